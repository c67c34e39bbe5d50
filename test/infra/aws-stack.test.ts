/**
 * The AWS stack under Pulumi mocks (no CLI or account here): every config-to-property
 * mapping, the fourth-channel rule, least privilege, secrets, and the guardrails.
 */
import { describe, expect, it } from "vitest";
import { channels } from "../../handlers/channels";
import type { PreviewResource, PreviewResult } from "../../infra/preview";
import { checkGuardrails } from "../../infra/policy/rules";
import { pager } from "./fixtures/pager-channel";
import { asStackResources, previewStack, SECRET_KEYS } from "./fixtures/stack-preview";

const stack = (config: Record<string, unknown> = {}, options: { pager?: boolean } = {}): Promise<PreviewResult> => previewStack({ "herald:cloud": "aws" }, config, options);

const ofType = (result: PreviewResult, type: string) => result.resources.filter((r) => r.type === `aws:${type}`);
const named = (result: PreviewResult, type: string, name: string): PreviewResource => {
  const found = ofType(result, type).find((r) => r.name === name);
  if (!found) throw new Error(`no aws:${type} named ${name}; have ${ofType(result, type).map((r) => r.name).join(", ")}`);
  return found;
};
const policyOf = (result: PreviewResult, fn: string) => JSON.parse(named(result, "iam/rolePolicy:RolePolicy", `herald-${fn}`).inputs.policy as string);
describe("the AWS stack under mocks", { timeout: 60_000 }, () => {
  let defaults: PreviewResult;

  it("declares the whole fan-out under one NotificationFanout component", async () => {
    defaults = await stack({ alarmEmail: "oncall@example.com" });
    const component = defaults.resources.find((r) => r.type === "herald:index:NotificationFanout");
    expect(component?.name).toBe("herald");
    expect(defaults.resources.filter((r) => r.type.startsWith("aws:")).every((r) => r.parent === "herald")).toBe(true);
    expect(ofType(defaults, "sns/topic:Topic").map((r) => r.name).sort()).toEqual(["herald-alarms", "herald-events"]);
    expect(named(defaults, "sns/topic:Topic", "herald-events").inputs.kmsMasterKeyId).toBe("alias/aws/sns");
    for (const consumer of ["rules", "email", "push", "sms"]) {
      named(defaults, "sqs/queue:Queue", `herald-${consumer}`);
      named(defaults, "sqs/queue:Queue", `herald-${consumer}-dlq`);
      expect(named(defaults, "lambda/function:Function", `herald-${consumer}`).inputs).toMatchObject({ runtime: "nodejs22.x", handler: "index.handler" });
      named(defaults, "iam/role:Role", `herald-${consumer}`);
      expect(named(defaults, "cloudwatch/logGroup:LogGroup", `herald-${consumer}`).inputs.retentionInDays).toBe(30);
      named(defaults, "cloudwatch/metricAlarm:MetricAlarm", `herald-${consumer}-dlq-depth`);
      named(defaults, "cloudwatch/metricAlarm:MetricAlarm", `herald-${consumer}-oldest-age`);
    }
    expect(named(defaults, "sns/topicSubscription:TopicSubscription", "herald-alarms-email").inputs).toMatchObject({ protocol: "email", endpoint: "oncall@example.com" });
    expect(defaults.outputs.topicArn).toMatch(/^arn:aws:sns:.*:herald-events$/);
    expect(Object.keys(defaults.outputs.queueUrls as object).sort()).toEqual(["email", "push", "rules", "sms"]);
    expect(Object.keys(defaults.outputs.deadLetterQueueUrls as object).sort()).toEqual(["email", "push", "rules", "sms"]);
    expect(defaults.outputs.tableNames).toEqual({ idempotency: "herald-idempotency", recipients: "herald-recipients" });
  });

  it("subscribes the rules queue to the entry topic with raw delivery, and only that topic may send to it", async () => {
    const subscription = named(defaults, "sns/topicSubscription:TopicSubscription", "herald-rules").inputs;
    const topicArn = named(defaults, "sns/topic:Topic", "herald-events").identifiers.arn;
    const queueArn = named(defaults, "sqs/queue:Queue", "herald-rules").identifiers.arn;
    expect(subscription).toMatchObject({ protocol: "sqs", rawMessageDelivery: true, topic: topicArn, endpoint: queueArn });
    const policy = JSON.parse(named(defaults, "sqs/queuePolicy:QueuePolicy", "herald-rules").inputs.policy as string);
    expect(policy.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "sns.amazonaws.com" }, Action: "sqs:SendMessage", Resource: queueArn, Condition: { ArnEquals: { "aws:SourceArn": topicArn } } },
    ]);
  });

  it("gives each queue its DLQ through a RedrivePolicy (maxReceiveCount = maxAttempts) and allows redrive back", async () => {
    for (const [consumer, attempts] of [["rules", 5], ["email", 8], ["sms", 8]] as const) {
      const dlqArn = named(defaults, "sqs/queue:Queue", `herald-${consumer}-dlq`).identifiers.arn;
      const queue = named(defaults, "sqs/queue:Queue", `herald-${consumer}`).identifiers;
      const redrive = named(defaults, "sqs/redrivePolicy:RedrivePolicy", `herald-${consumer}`).inputs;
      expect(redrive.queueUrl).toBe(queue.url);
      expect(JSON.parse(redrive.redrivePolicy as string)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: attempts });
      const allow = named(defaults, "sqs/redriveAllowPolicy:RedriveAllowPolicy", `herald-${consumer}-dlq`).inputs;
      expect(JSON.parse(allow.redriveAllowPolicy as string)).toEqual({ redrivePermission: "byQueue", sourceQueueArns: [queue.arn] });
    }
  });

  it("maps each channel's defaults to its event source mapping, function timeout and visibility", async () => {
    const mapping = named(defaults, "lambda/eventSourceMapping:EventSourceMapping", "herald-sms").inputs;
    expect(mapping).toMatchObject({ batchSize: 10, functionResponseTypes: ["ReportBatchItemFailures"], scalingConfig: { maximumConcurrency: 5 } });
    // sms: 15 s per send x 10 per batch + 10 s margin; the queue hides a message six times that.
    expect(named(defaults, "lambda/function:Function", "herald-sms").inputs.timeout).toBe(160);
    expect(named(defaults, "sqs/queue:Queue", "herald-sms").inputs.visibilityTimeoutSeconds).toBe(960);
    expect(defaults.outputs.effectiveConcurrency).toEqual({ rules: 10, email: 10, push: 50, sms: 5 });
  });

  it("follows every config override to the property it controls", async () => {
    const changed = await stack({
      channels: { sms: { concurrency: 7, maxAttempts: 3, timeoutMs: 20_000, batchSize: 20, secretName: "acme-twilio" }, email: { concurrency: 1 } },
      rules: { concurrency: 4 },
      logRetentionDays: 14,
      queueAgeAlarmSeconds: 300,
    });
    const sms = named(changed, "lambda/eventSourceMapping:EventSourceMapping", "herald-sms").inputs;
    expect(sms).toMatchObject({ batchSize: 20, maximumBatchingWindowInSeconds: 1, scalingConfig: { maximumConcurrency: 7 } });
    expect(named(changed, "lambda/function:Function", "herald-sms").inputs.timeout).toBe(20 * 20 + 10);
    expect(named(changed, "sqs/queue:Queue", "herald-sms").inputs.visibilityTimeoutSeconds).toBe(6 * 410);
    expect(JSON.parse(named(changed, "sqs/redrivePolicy:RedrivePolicy", "herald-sms").inputs.redrivePolicy as string).maxReceiveCount).toBe(3);
    expect(named(changed, "secretsmanager/secret:Secret", "herald-sms").inputs.name).toBe("acme-twilio");
    expect(named(changed, "lambda/eventSourceMapping:EventSourceMapping", "herald-rules").inputs.scalingConfig).toEqual({ maximumConcurrency: 4 });
    // A cap of 1 cannot be expressed (the minimum is 2): deployed as 2 and reported, never silently.
    expect(named(changed, "lambda/eventSourceMapping:EventSourceMapping", "herald-email").inputs.scalingConfig).toEqual({ maximumConcurrency: 2 });
    expect((changed.outputs.effectiveConcurrency as Record<string, number>).email).toBe(2);
    expect(named(changed, "cloudwatch/logGroup:LogGroup", "herald-email").inputs.retentionInDays).toBe(14);
    expect(named(changed, "cloudwatch/metricAlarm:MetricAlarm", "herald-sms-oldest-age").inputs.threshold).toBe(300);
    expect(ofType(changed, "sns/topicSubscription:TopicSubscription").some((s) => s.inputs.protocol === "email")).toBe(false);
  });

  it("fails early, naming the key, on a config it cannot deploy", async () => {
    await expect(stack({ channels: { sms: { timeoutMs: 120_000, batchSize: 10 } } })).rejects.toThrow(/^herald:channels\.sms\.batchSize: /);
    await expect(stack({ channels: { pagr: { concurrency: 2 } } })).rejects.toThrow(/^herald:channels\.pagr: is not a registered channel/);
    await expect(stack({ settings: { TWILIO_AUTH_TOKEN: "oops" } })).rejects.toThrow(/^herald:settings\.TWILIO_AUTH_TOKEN: is a secret/);
  });

  it("gives a fourth channel module its queue, DLQ, function, role and alarms automatically", async () => {
    const withPager = await stack({}, { pager: true });
    named(withPager, "sqs/queue:Queue", "herald-pager");
    named(withPager, "sqs/queue:Queue", "herald-pager-dlq");
    expect(named(withPager, "lambda/eventSourceMapping:EventSourceMapping", "herald-pager").inputs).toMatchObject({ batchSize: 5, scalingConfig: { maximumConcurrency: 3 } });
    named(withPager, "iam/role:Role", "herald-pager");
    named(withPager, "cloudwatch/metricAlarm:MetricAlarm", "herald-pager-dlq-depth");
    named(withPager, "secretsmanager/secret:Secret", "herald-pager");
    // The rules function may now send to the pager queue too.
    const pagerArn = named(withPager, "sqs/queue:Queue", "herald-pager").identifiers.arn;
    const send = policyOf(withPager, "rules").Statement.find((s: { Action: string[] }) => s.Action.includes("sqs:SendMessage"));
    expect(send.Resource).toContain(pagerArn);
    expect(checkGuardrails(asStackResources(withPager), SECRET_KEYS)).toEqual([]);
  });

  it("grants each function only its own resources and actions", async () => {
    const arn = (type: string, name: string) => named(defaults, type, name).identifiers.arn!;
    const email = policyOf(defaults, "email");
    const resources = email.Statement.flatMap((s: { Resource: string[] }) => s.Resource);
    expect(resources).toContain(arn("sqs/queue:Queue", "herald-email"));
    expect(resources).toContain(arn("secretsmanager/secret:Secret", "herald-email"));
    expect(resources).not.toContain(arn("sqs/queue:Queue", "herald-sms"));
    expect(resources).not.toContain(arn("secretsmanager/secret:Secret", "herald-sms"));
    const actions = email.Statement.flatMap((s: { Action: string[] }) => s.Action);
    expect(actions).not.toContain("dynamodb:Scan");
    // The rules function reads recipients but never writes them, and reads no channel secret.
    const rules = policyOf(defaults, "rules");
    const recipients = rules.Statement.find((s: { Resource: string[] }) => s.Resource.includes(arn("dynamodb/table:Table", "herald-recipients")));
    expect(recipients.Action).toEqual(["dynamodb:GetItem"]);
    expect(rules.Statement.some((s: { Action: string[] }) => s.Action.includes("secretsmanager:GetSecretValue"))).toBe(false);
    expect(JSON.parse(named(defaults, "iam/role:Role", "herald-rules").inputs.assumeRolePolicy as string).Statement[0].Principal).toEqual({ Service: "lambda.amazonaws.com" });
  });

  it("keeps secrets in Secrets Manager: encrypted in the state, absent from every environment", async () => {
    const withSecrets = await stack({ secrets: { HERALD_SMTP_URL: "smtps://user:hunter2@smtp.example.com", TWILIO_AUTH_TOKEN: "tok-123" }, settings: { HERALD_EMAIL_FROM: "herald <n@example.com>" } });
    expect(named(withSecrets, "secretsmanager/secretVersion:SecretVersion", "herald-email").inputs.secretString).toBe("[secret]");
    const printed = JSON.stringify(withSecrets);
    expect(printed).not.toContain("hunter2");
    expect(printed).not.toContain("tok-123");
    const env = named(withSecrets, "lambda/function:Function", "herald-email").inputs.environment as { variables: Record<string, string> };
    expect(env.variables).toMatchObject({ HERALD_EMAIL_FROM: "herald <n@example.com>", HERALD_SECRET_ARN: named(withSecrets, "secretsmanager/secret:Secret", "herald-email").identifiers.arn });
    await expect(stack({ secrets: { HERALD_SMTP_URLL: "x" } })).rejects.toThrow(/herald:secrets\.HERALD_SMTP_URLL: is not a secret any channel reads/);
  });

  it("serves unsubscribe links from a public function URL when the stack has a signing key, and signs them in rules", async () => {
    expect(ofType(defaults, "lambda/functionUrl:FunctionUrl")).toEqual([]);
    const withKey = await stack({ secrets: { HERALD_UNSUBSCRIBE_SECRET: "sign-with-this" } });
    const url = named(withKey, "lambda/functionUrl:FunctionUrl", "herald-unsubscribe");
    expect(url.inputs.authorizationType).toBe("NONE");
    const permissions = ofType(withKey, "lambda/permission:Permission").map((p) => p.inputs);
    expect(permissions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "lambda:InvokeFunctionUrl", principal: "*", functionUrlAuthType: "NONE" }),
        expect.objectContaining({ action: "lambda:InvokeFunction", principal: "*", invokedViaFunctionUrl: true }),
      ]),
    );
    const keyArn = named(withKey, "secretsmanager/secret:Secret", "herald-unsubscribe").identifiers.arn;
    const rules = named(withKey, "lambda/function:Function", "herald-rules").inputs.environment as { variables: Record<string, string> };
    expect(rules.variables).toMatchObject({ HERALD_UNSUBSCRIBE_BASE_URL: withKey.outputs.unsubscribeUrl, HERALD_UNSUBSCRIBE_SECRET_ARN: keyArn });
    expect(withKey.outputs.unsubscribeUrl).toMatch(/^https:\/\/.*\.lambda-url\./);
    // Only rules and the endpoint may read the signing key; no channel function can.
    const readers = ofType(withKey, "iam/rolePolicy:RolePolicy").filter((p) => String(p.inputs.policy).includes(keyArn!)).map((p) => p.name).sort();
    expect(readers).toEqual(["herald-rules", "herald-unsubscribe"]);
    const endpoint = JSON.parse(named(withKey, "iam/rolePolicy:RolePolicy", "herald-unsubscribe").inputs.policy as string);
    expect(endpoint.Statement.flatMap((s: { Action: string[] }) => s.Action)).not.toContain("sqs:SendMessage");
    expect(JSON.stringify(withKey)).not.toContain("sign-with-this");
    expect(checkGuardrails(asStackResources(withKey), SECRET_KEYS)).toEqual([]);
  });

  it("builds a bundle per function, deterministic and each under 1 MB, carrying only its own SDK", async () => {
    const again = await stack({ alarmEmail: "oncall@example.com" });
    for (const consumer of ["rules", "email", "push", "sms"]) {
      const code = named(defaults, "lambda/function:Function", `herald-${consumer}`).inputs.code as { archive: Record<string, number>; sha256: string };
      expect(code.archive["index.js"]).toBeLessThan(1024 * 1024);
      expect(code.archive["index.js.map"]).toBeGreaterThan(0);
      expect((named(again, "lambda/function:Function", `herald-${consumer}`).inputs.code as { sha256: string }).sha256).toBe(code.sha256);
    }
  });

  it("passes the policy pack's guardrails", () => {
    expect(checkGuardrails(asStackResources(defaults), SECRET_KEYS)).toEqual([]);
  });
});
