/**
 * The guardrails fail on deliberately broken stacks, one breakage at a time, and pass on
 * the same stack unbroken (the real program passes them in aws-stack.test.ts).
 */
import { describe, expect, it } from "vitest";
import { checkGuardrails, type StackResource } from "../../infra/policy/rules";

const queue = (name: string, visibility = 600): StackResource => ({
  type: "aws:sqs/queue:Queue",
  name,
  props: { name, arn: `arn:aws:sqs:us-east-1:1:${name}`, url: `https://sqs/1/${name}`, visibilityTimeoutSeconds: visibility },
});
const sound = (): StackResource[] => [
  queue("q"),
  queue("q-dlq"),
  { type: "aws:sqs/redrivePolicy:RedrivePolicy", name: "q", props: { queueUrl: "https://sqs/1/q", redrivePolicy: JSON.stringify({ deadLetterTargetArn: "arn:aws:sqs:us-east-1:1:q-dlq", maxReceiveCount: 5 }) } },
  { type: "aws:lambda/function:Function", name: "fn", props: { arn: "arn:aws:lambda:us-east-1:1:fn", timeout: 100, environment: { variables: { HERALD_SECRET_ARN: "arn:aws:secretsmanager:x", HERALD_EMAIL_FROM: "a@b.c" } } } },
  {
    type: "aws:lambda/eventSourceMapping:EventSourceMapping",
    name: "esm",
    props: { eventSourceArn: "arn:aws:sqs:us-east-1:1:q", functionName: "arn:aws:lambda:us-east-1:1:fn", functionResponseTypes: ["ReportBatchItemFailures"], scalingConfig: { maximumConcurrency: 5 } },
  },
  { type: "aws:iam/rolePolicy:RolePolicy", name: "fn", props: { policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["sqs:ReceiveMessage"], Resource: ["arn:aws:sqs:us-east-1:1:q"] }] }) } },
  { type: "aws:cloudwatch/metricAlarm:MetricAlarm", name: "q-dlq-depth", props: { metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: "q-dlq" } } },
];
const secretKeys = ["TWILIO_AUTH_TOKEN"];
const broken = (mutate: (resources: StackResource[]) => StackResource[]) => checkGuardrails(mutate(sound()), secretKeys).map((v) => v.policy);
const replace = (resources: StackResource[], name: string, type: string, props: Record<string, unknown>) =>
  resources.map((r) => (r.name === name && r.type === type ? { ...r, props: { ...r.props, ...props } } : r));

describe("guardrails", () => {
  it("pass on a sound stack", () => {
    expect(checkGuardrails(sound(), secretKeys)).toEqual([]);
  });

  it.each([
    ["consumed-queue-has-dlq", (rs: StackResource[]) => rs.filter((r) => r.type !== "aws:sqs/redrivePolicy:RedrivePolicy").concat([])],
    ["mapping-reports-failures-and-is-capped", (rs: StackResource[]) => replace(rs, "esm", "aws:lambda/eventSourceMapping:EventSourceMapping", { functionResponseTypes: [] })],
    ["mapping-reports-failures-and-is-capped", (rs: StackResource[]) => replace(rs, "esm", "aws:lambda/eventSourceMapping:EventSourceMapping", { scalingConfig: undefined })],
    ["visibility-covers-six-timeouts", (rs: StackResource[]) => replace(rs, "q", "aws:sqs/queue:Queue", { visibilityTimeoutSeconds: 599 })],
    ["no-iam-wildcards", (rs: StackResource[]) => replace(rs, "fn", "aws:iam/rolePolicy:RolePolicy", { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: "sqs:*", Resource: ["arn:aws:sqs:us-east-1:1:q"] }] }) })],
    ["no-iam-wildcards", (rs: StackResource[]) => replace(rs, "fn", "aws:iam/rolePolicy:RolePolicy", { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: "*" }] }) })],
    ["no-iam-wildcards", (rs: StackResource[]) => replace(rs, "fn", "aws:iam/rolePolicy:RolePolicy", { policy: JSON.stringify({ Statement: { Effect: "Allow", NotAction: ["iam:*"], Resource: ["x"] } }) })],
    ["dlq-has-alarm", (rs: StackResource[]) => rs.filter((r) => r.type !== "aws:cloudwatch/metricAlarm:MetricAlarm")],
    ["no-secret-in-plain-environment", (rs: StackResource[]) => replace(rs, "fn", "aws:lambda/function:Function", { environment: { variables: { TWILIO_AUTH_TOKEN: "t" } } })],
    ["no-secret-in-plain-environment", (rs: StackResource[]) => replace(rs, "fn", "aws:lambda/function:Function", { environment: { variables: { SMTP_PASSWORD: "p" } } })],
  ])("%s fails on a stack broken for it", (policy, mutate) => {
    expect(broken(mutate as (rs: StackResource[]) => StackResource[])).toEqual([policy]);
  });
});

describe("GCP guardrails", () => {
  const soundGcp = (): StackResource[] => [
    { type: "gcp:pubsub/topic:Topic", name: "t-dlq", props: { name: "t-dlq" } },
    {
      type: "gcp:pubsub/subscription:Subscription",
      name: "t",
      props: { name: "t", pushConfig: { pushEndpoint: "https://fn" }, retryPolicy: { minimumBackoff: "10s" }, deadLetterPolicy: { deadLetterTopic: "projects/p/topics/t-dlq", maxDeliveryAttempts: 8 } },
    },
    { type: "gcp:pubsub/subscription:Subscription", name: "t-dlq", props: { name: "t-dlq", topic: "projects/p/topics/t-dlq" } },
    { type: "gcp:cloudfunctionsv2/function:Function", name: "fn", props: { name: "fn", url: "https://fn", serviceConfig: { maxInstanceCount: 5, serviceAccountEmail: "fn@p.iam.gserviceaccount.com", environmentVariables: { HERALD_EMAIL_FROM: "x" } } } },
    { type: "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", name: "fn-invoker", props: { name: "fn", role: "roles/run.invoker", member: "serviceAccount:push@p.iam.gserviceaccount.com" } },
    { type: "gcp:monitoring/alertPolicy:AlertPolicy", name: "t-dlq-depth", props: { conditions: [{ conditionThreshold: { filter: 'resource.labels.subscription_id = "t-dlq" AND metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages"' } }] } },
  ];
  const gcpBroken = (mutate: (resources: StackResource[]) => StackResource[]) => checkGuardrails(mutate(soundGcp()), secretKeys).map((v) => v.policy);

  it("pass on a sound stack", () => {
    expect(checkGuardrails(soundGcp(), secretKeys)).toEqual([]);
  });

  it.each([
    ["gcp-push-subscription-has-dlq-and-retry", (rs: StackResource[]) => replace(rs, "t", "gcp:pubsub/subscription:Subscription", { deadLetterPolicy: undefined })],
    ["gcp-push-subscription-has-dlq-and-retry", (rs: StackResource[]) => replace(rs, "t", "gcp:pubsub/subscription:Subscription", { deadLetterPolicy: { deadLetterTopic: "projects/p/topics/t-dlq", maxDeliveryAttempts: 200 } })],
    ["gcp-push-subscription-has-dlq-and-retry", (rs: StackResource[]) => replace(rs, "t", "gcp:pubsub/subscription:Subscription", { retryPolicy: undefined })],
    ["gcp-function-capped-with-own-identity", (rs: StackResource[]) => replace(rs, "fn", "gcp:cloudfunctionsv2/function:Function", { serviceConfig: { serviceAccountEmail: "fn@p.iam.gserviceaccount.com" } })],
    ["gcp-function-capped-with-own-identity", (rs: StackResource[]) => replace(rs, "fn", "gcp:cloudfunctionsv2/function:Function", { serviceConfig: { maxInstanceCount: 5, serviceAccountEmail: "123-compute@developer.gserviceaccount.com" } })],
    ["gcp-pushed-function-not-public", (rs: StackResource[]) => replace(rs, "fn-invoker", "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", { member: "allUsers" })],
    ["gcp-dlq-has-alert", (rs: StackResource[]) => rs.filter((r) => r.type !== "gcp:monitoring/alertPolicy:AlertPolicy")],
    ["gcp-no-secret-in-plain-environment", (rs: StackResource[]) => replace(rs, "fn", "gcp:cloudfunctionsv2/function:Function", { serviceConfig: { maxInstanceCount: 5, serviceAccountEmail: "fn@p.iam.gserviceaccount.com", environmentVariables: { TWILIO_AUTH_TOKEN: "t" } } })],
  ])("%s fails on a stack broken for it", (policy, mutate) => {
    expect(gcpBroken(mutate as (rs: StackResource[]) => StackResource[])).toEqual([policy]);
  });
});

describe("Azure guardrails", () => {
  const role = (guid: string) => `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  const ns = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ServiceBus/namespaces/bus";
  const app = (name: string, identity: string, settings: Record<string, string> = {}): StackResource => ({
    type: "azure-native:web:WebApp",
    name,
    props: {
      identity: { type: "UserAssigned", userAssignedIdentities: [identity] },
      functionAppConfig: { scaleAndConcurrency: { maximumInstanceCount: 40 } },
      siteConfig: { appSettings: Object.entries({ HERALD_QUEUE_EMAIL: "q", HERALD_CHANNEL_SECRETS: "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s)", ...settings }).map(([n, value]) => ({ name: n, value })) },
    },
  });
  const soundAzure = (): StackResource[] => [
    { type: "azure-native:servicebus:Queue", name: "q", props: { name: "q", maxDeliveryCount: 5, deadLetteringOnMessageExpiration: true } },
    app("fn", "/identities/fn"),
    app("other", "/identities/other"),
    { type: "azure-native:authorization:RoleAssignment", name: "fn-receives", props: { roleDefinitionId: role("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"), scope: `${ns}/queues/q` } },
    { type: "azure-native:authorization:RoleAssignment", name: "fn-table", props: { roleDefinitionId: role("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"), scope: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/tableServices/default/tables/t" } },
    {
      type: "azure-native:monitor:MetricAlert",
      name: "q-dlq",
      props: { criteria: { allOf: [{ metricName: "DeadletteredMessages", dimensions: [{ name: "EntityName", operator: "Include", values: ["q"] }] }] } },
    },
  ];
  // One policy broken, however many resources it reports (a shared identity is reported on both apps).
  const azureBroken = (mutate: (resources: StackResource[]) => StackResource[]) => [...new Set(checkGuardrails(mutate(soundAzure()), secretKeys).map((v) => v.policy))];

  it("pass on a sound stack", () => {
    expect(checkGuardrails(soundAzure(), secretKeys)).toEqual([]);
  });

  it.each([
    ["azure-queue-has-dlq", (rs: StackResource[]) => replace(rs, "q", "azure-native:servicebus:Queue", { maxDeliveryCount: undefined })],
    ["azure-queue-has-dlq", (rs: StackResource[]) => replace(rs, "q", "azure-native:servicebus:Queue", { deadLetteringOnMessageExpiration: false })],
    ["azure-function-capped-with-own-identity", (rs: StackResource[]) => replace(rs, "fn", "azure-native:web:WebApp", { functionAppConfig: {} })],
    ["azure-function-capped-with-own-identity", (rs: StackResource[]) => rs.map((r) => (r.name === "other" ? app("other", "/identities/fn") : r))],
    ["azure-roles-scoped-to-entities", (rs: StackResource[]) => replace(rs, "fn-receives", "azure-native:authorization:RoleAssignment", { scope: ns })],
    ["azure-roles-scoped-to-entities", (rs: StackResource[]) => replace(rs, "fn-table", "azure-native:authorization:RoleAssignment", { scope: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a" })],
    ["azure-roles-scoped-to-entities", (rs: StackResource[]) => replace(rs, "fn-receives", "azure-native:authorization:RoleAssignment", { roleDefinitionId: role("b24988ac-6180-42a0-ab88-20f7382dd24c") })],
    ["azure-dlq-has-alert", (rs: StackResource[]) => rs.filter((r) => r.type !== "azure-native:monitor:MetricAlert")],
    ["azure-no-secret-in-plain-settings", (rs: StackResource[]) => rs.map((r) => (r.name === "fn" && r.type === "azure-native:web:WebApp" ? app("fn", "/identities/fn", { TWILIO_AUTH_TOKEN: "t" }) : r))],
    ["azure-no-secret-in-plain-settings", (rs: StackResource[]) => rs.map((r) => (r.name === "fn" && r.type === "azure-native:web:WebApp" ? app("fn", "/identities/fn", { HERALD_CHANNEL_SECRETS: '{"SMTP_PASSWORD":"p"}' }) : r))],
  ])("%s fails on a stack broken for it", (policy, mutate) => {
    expect(azureBroken(mutate as (rs: StackResource[]) => StackResource[])).toEqual([policy]);
  });
});
