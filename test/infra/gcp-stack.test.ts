/**
 * The GCP stack under Pulumi mocks: push subscriptions with OIDC, retry and dead-letter
 * policies to gen2 functions (no eventTrigger), DLQ topics with pull subscriptions, the
 * Pub/Sub service agent's grants, caps, secrets as secret environment variables.
 */
import { describe, expect, it } from "vitest";
import { channels } from "../../handlers/channels";
import { previewProgram, type PreviewResource, type PreviewResult } from "../../infra/preview";
import { checkGuardrails } from "../../infra/policy/rules";
import { declareStack, planStack } from "../../infra/stack";
import { pager } from "./fixtures/pager-channel";
import { asStackResources, previewStack, SECRET_KEYS } from "./fixtures/stack-preview";

const stack = (config: Record<string, unknown> = {}, options: { pager?: boolean } = {}): Promise<PreviewResult> => previewStack({ "herald:cloud": "gcp", "herald:region": "europe-west1" }, config, options);

const ofType = (result: PreviewResult, type: string) => result.resources.filter((r) => r.type === `gcp:${type}`);
const named = (result: PreviewResult, type: string, name: string): PreviewResource => {
  const found = ofType(result, type).find((r) => r.name === name);
  if (!found) throw new Error(`no gcp:${type} named ${name}; have ${ofType(result, type).map((r) => r.name).join(", ")}`);
  return found;
};
const AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com";

describe("the GCP stack under mocks", { timeout: 60_000 }, () => {
  let defaults: PreviewResult;

  it("pushes each consumer's messages to its gen2 function through an explicit subscription with retry and dead-letter policies", async () => {
    defaults = await stack({ alarmEmail: "oncall@example.com", channels: { sms: { maxAttempts: 3 } } });
    const functions = ofType(defaults, "cloudfunctionsv2/function:Function");
    expect(functions.map((f) => f.name).sort()).toEqual(["herald-email", "herald-push", "herald-rules", "herald-sms"]);
    for (const fn of functions) {
      expect(fn.inputs.eventTrigger).toBeUndefined();
      expect(fn.inputs.buildConfig).toMatchObject({ runtime: "nodejs22", entryPoint: "handler" });
    }
    const sms = named(defaults, "pubsub/subscription:Subscription", "herald-sms").inputs as any;
    expect(sms.pushConfig.oidcToken.serviceAccountEmail).toBe("herald-pubsub-push@herald-preview.iam.gserviceaccount.com");
    expect(sms.pushConfig.pushEndpoint).toBe(sms.pushConfig.oidcToken.audience);
    expect(sms.retryPolicy).toEqual({ minimumBackoff: "10s", maximumBackoff: "600s" });
    // sms asked for 3 attempts; Pub/Sub's floor is 5, deployed and reported as such.
    expect(sms.deadLetterPolicy.maxDeliveryAttempts).toBe(5);
    expect(sms.deadLetterPolicy.deadLetterTopic).toBe(named(defaults, "pubsub/topic:Topic", "herald-sms-dlq").identifiers.id);
    // The ack deadline covers the function's timeout (15 s send + margin).
    expect(sms.ackDeadlineSeconds).toBeGreaterThanOrEqual((named(defaults, "cloudfunctionsv2/function:Function", "herald-sms").inputs as any).serviceConfig.timeoutSeconds);
    // The rules consumer is pushed from the entry topic itself.
    const rules = named(defaults, "pubsub/subscription:Subscription", "herald-rules").inputs as any;
    expect(rules.topic).toBe(named(defaults, "pubsub/topic:Topic", "herald-events").identifiers.id);
  });

  it("keeps dead letters in a pull subscription on each DLQ topic and lets the Pub/Sub service agent move them", async () => {
    for (const consumer of ["rules", "email", "push", "sms"]) {
      const dlq = named(defaults, "pubsub/subscription:Subscription", `herald-${consumer}-dlq`).inputs as any;
      expect(dlq.pushConfig).toBeUndefined();
      expect(dlq.messageRetentionDuration).toBe("604800s");
      expect(named(defaults, "pubsub/topicIAMMember:TopicIAMMember", `herald-${consumer}-dlq-publisher`).inputs).toMatchObject({ role: "roles/pubsub.publisher", member: AGENT });
      expect(named(defaults, "pubsub/subscriptionIAMMember:SubscriptionIAMMember", `herald-${consumer}-dlq-subscriber`).inputs).toMatchObject({ role: "roles/pubsub.subscriber", member: AGENT });
      named(defaults, "monitoring/alertPolicy:AlertPolicy", `herald-${consumer}-dlq-depth`);
    }
  });

  it("caps each consumer at maxInstanceCount x maxInstanceRequestConcurrency and lets only the push account invoke it", async () => {
    for (const [consumer, cap] of [["rules", 10], ["email", 10], ["push", 50], ["sms", 5]] as const) {
      const config = (named(defaults, "cloudfunctionsv2/function:Function", `herald-${consumer}`).inputs as any).serviceConfig;
      expect(config.maxInstanceCount * config.maxInstanceRequestConcurrency).toBe(cap);
      const invoker = named(defaults, "cloudrunv2/serviceIamMember:ServiceIamMember", `herald-${consumer}-invoker`).inputs as any;
      expect(invoker.role).toBe("roles/run.invoker");
      expect(invoker.member).toMatch(/^serviceAccount:herald-pubsub-push/);
    }
    expect(ofType(defaults, "cloudrunv2/serviceIamMember:ServiceIamMember").some((m) => m.inputs.member === "allUsers")).toBe(false);
  });

  it("gives each function its own service account, publishing only to the topics it sends to", async () => {
    const accounts = ofType(defaults, "serviceaccount/account:Account").map((a) => a.name).sort();
    expect(accounts).toEqual(["herald-email", "herald-pubsub-push", "herald-push", "herald-rules", "herald-sms"]);
    const publishers = ofType(defaults, "pubsub/topicIAMMember:TopicIAMMember").filter((m) => String(m.inputs.member).startsWith("serviceAccount:herald-rules"));
    expect(publishers.map((p) => p.name).sort()).toEqual(["herald-rules-dead-letters", "herald-rules-publishes-email", "herald-rules-publishes-push", "herald-rules-publishes-sms"]);
    const emailGrants = ofType(defaults, "pubsub/topicIAMMember:TopicIAMMember").filter((m) => String(m.inputs.member).startsWith("serviceAccount:herald-email"));
    expect(emailGrants.map((p) => p.name)).toEqual(["herald-email-publishes-email"]);
  });

  it("hands secrets over as secret environment variables, never plain ones, and uploads code named by content", async () => {
    const withSecrets = await stack({ secrets: { TWILIO_AUTH_TOKEN: "tok-123" } });
    const sms = (named(withSecrets, "cloudfunctionsv2/function:Function", "herald-sms").inputs as any).serviceConfig;
    expect(sms.secretEnvironmentVariables).toEqual([{ key: "HERALD_CHANNEL_SECRETS", projectId: "herald-preview", secret: "herald-sms", version: "latest" }]);
    expect(Object.keys(sms.environmentVariables)).not.toContain("TWILIO_AUTH_TOKEN");
    expect(JSON.stringify(withSecrets)).not.toContain("tok-123");
    expect(named(withSecrets, "secretmanager/secretIamMember:SecretIamMember", "herald-sms-reads-sms").inputs.role).toBe("roles/secretmanager.secretAccessor");
    const object = named(withSecrets, "storage/bucketObject:BucketObject", "herald-sms").inputs as any;
    expect(object.name).toMatch(/^sms-[0-9a-f]{32}\.zip$/);
    expect(Object.keys(object.source.archive).sort()).toEqual(["index.js", "index.js.map", "package.json"]);
  });

  it("gives a fourth channel module its topic, push subscription, DLQ, function, account, grants and alert", async () => {
    const withPager = await stack({}, { pager: true });
    named(withPager, "pubsub/topic:Topic", "herald-pager");
    named(withPager, "pubsub/topic:Topic", "herald-pager-dlq");
    const subscription = named(withPager, "pubsub/subscription:Subscription", "herald-pager").inputs as any;
    expect(subscription.deadLetterPolicy.deadLetterTopic).toBe(named(withPager, "pubsub/topic:Topic", "herald-pager-dlq").identifiers.id);
    named(withPager, "cloudfunctionsv2/function:Function", "herald-pager");
    named(withPager, "serviceaccount/account:Account", "herald-pager");
    named(withPager, "pubsub/topicIAMMember:TopicIAMMember", "herald-rules-publishes-pager");
    named(withPager, "monitoring/alertPolicy:AlertPolicy", "herald-pager-dlq-depth");
    expect(checkGuardrails(asStackResources(withPager), SECRET_KEYS)).toEqual([]);
  });

  it("fails early without a region", async () => {
    await expect(previewProgram({ "herald:cloud": "gcp" }, () => planStack(channels), declareStack)).rejects.toThrow(/herald:region: GCP needs a region/);
  });
});
