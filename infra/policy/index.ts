/**
 * The herald policy pack: `pulumi preview --policy-pack infra/policy` (and `up`) refuses
 * a stack that breaks a guardrail. The checks themselves are in rules.ts, shared with the
 * tests, which run them against the program under mocks.
 */
import { PolicyPack } from "@pulumi/policy";
import { channels } from "../../handlers/channels";
import { allGuardrails } from "./rules";

const secretKeys = [...new Set(channels.flatMap((channel) => channel.secretConfigKeys ?? []))];

new PolicyPack("herald-guardrails", {
  policies: allGuardrails(secretKeys).map((policy) => ({
    name: policy.name,
    description: policy.description,
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
      const resources = args.resources.map((resource) => ({ type: resource.type, name: resource.name, props: resource.props }));
      for (const violation of policy.check(resources)) reportViolation(violation.message, violation.resource);
    },
  })),
});
