/**
 * herald's guardrails as plain functions over a stack's resources, so the same checks run
 * in the Pulumi policy pack (`pulumi preview --policy-pack infra/policy`) and in vitest
 * against the program under mocks. Resources are linked the way the cloud links them
 * (an event source mapping names its queue's ARN, a redrive policy its queue's URL).
 */

export interface StackResource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
}

export interface Violation {
  readonly policy: string;
  readonly resource: string;
  readonly message: string;
}

export interface GuardrailPolicy {
  readonly name: string;
  readonly description: string;
  check(resources: readonly StackResource[]): Violation[];
}

const T = {
  queue: "aws:sqs/queue:Queue",
  redrive: "aws:sqs/redrivePolicy:RedrivePolicy",
  mapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  fn: "aws:lambda/function:Function",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  policy: "aws:iam/policy:Policy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
} as const;

const of = (resources: readonly StackResource[], type: string) => resources.filter((r) => r.type === type);
const json = (value: unknown): any => (typeof value === "string" ? safeParse(value) : value);
function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Config keys herald treats as secrets, and the shapes of names that usually are. */
export function secretLikeName(name: string, secretKeys: readonly string[]): boolean {
  if (secretKeys.includes(name)) return true;
  // A reference to a secret (its ARN or name) is fine; the value itself is not.
  if (/_(ARN|NAME|ID)$/.test(name)) return false;
  return /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)/.test(name);
}

/** The AWS guardrails. */
export function guardrails(secretKeys: readonly string[]): GuardrailPolicy[] {
  return [
    {
      name: "consumed-queue-has-dlq",
      description: "Every queue a function consumes has a dead-letter queue with a maxReceiveCount.",
      check(resources) {
        const redriven = new Map(of(resources, T.redrive).map((r) => [r.props.queueUrl, json(r.props.redrivePolicy)]));
        const queuesByArn = new Map(of(resources, T.queue).map((q) => [q.props.arn, q]));
        return of(resources, T.mapping).flatMap((mapping) => {
          const queue = queuesByArn.get(mapping.props.eventSourceArn);
          if (!queue) return [];
          const policy = redriven.get(queue.props.url) ?? json(queue.props.redrivePolicy);
          return policy?.deadLetterTargetArn && Number(policy.maxReceiveCount) >= 1
            ? []
            : [{ policy: "consumed-queue-has-dlq", resource: queue.name, message: `queue ${queue.name} is consumed by ${mapping.name} but has no dead-letter queue` }];
        });
      },
    },
    {
      name: "mapping-reports-failures-and-is-capped",
      description: "Every event source mapping reports per-message failures and has a concurrency cap.",
      check(resources) {
        return of(resources, T.mapping).flatMap((mapping) => {
          const found: Violation[] = [];
          if (!(mapping.props.functionResponseTypes ?? []).includes("ReportBatchItemFailures")) {
            found.push({ policy: "mapping-reports-failures-and-is-capped", resource: mapping.name, message: `${mapping.name} lacks ReportBatchItemFailures: one failure would retry the whole batch` });
          }
          if (!(Number(mapping.props.scalingConfig?.maximumConcurrency) >= 2)) {
            found.push({ policy: "mapping-reports-failures-and-is-capped", resource: mapping.name, message: `${mapping.name} has no scalingConfig.maximumConcurrency: nothing caps the channel` });
          }
          return found;
        });
      },
    },
    {
      name: "visibility-covers-six-timeouts",
      description: "A consumed queue's visibility timeout is at least six times its function's timeout.",
      check(resources) {
        const queuesByArn = new Map(of(resources, T.queue).map((q) => [q.props.arn, q]));
        const functions = of(resources, T.fn);
        return of(resources, T.mapping).flatMap((mapping) => {
          const queue = queuesByArn.get(mapping.props.eventSourceArn);
          const fn = functions.find((f) => f.props.arn === mapping.props.functionName || f.props.name === mapping.props.functionName);
          if (!queue || !fn) return [];
          const visibility = Number(queue.props.visibilityTimeoutSeconds ?? 30);
          const timeout = Number(fn.props.timeout ?? 3);
          return visibility >= 6 * timeout
            ? []
            : [{ policy: "visibility-covers-six-timeouts", resource: queue.name, message: `${queue.name} hides messages for ${visibility} s; ${fn.name} may run ${timeout} s (needs >= ${6 * timeout})` }];
        });
      },
    },
    {
      name: "no-iam-wildcards",
      description: "No IAM policy allows every action of a service or every resource.",
      check(resources) {
        return [...of(resources, T.rolePolicy), ...of(resources, T.policy)].flatMap((policy) => {
          const document = json(policy.props.policy);
          const statements = Array.isArray(document?.Statement) ? document.Statement : [document?.Statement].filter(Boolean);
          return statements.flatMap((statement: any): Violation[] => {
            const violation = (what: string) => ({ policy: "no-iam-wildcards", resource: policy.name, message: `${policy.name} ${what}` });
            if (statement.NotAction !== undefined || statement.NotResource !== undefined) return [violation("uses NotAction or NotResource, which grant everything else")];
            const list = (value: unknown) => (Array.isArray(value) ? value : [value]).map(String);
            const bad = [...list(statement.Action).filter((a) => a === "*" || a.endsWith(":*")), ...list(statement.Resource).filter((r) => r === "*")];
            return bad.length > 0 ? [violation(`allows ${bad.join(", ")}`)] : [];
          });
        });
      },
    },
    {
      name: "dlq-has-alarm",
      description: "Every dead-letter queue has an alarm on its depth.",
      check(resources) {
        const deadLetterArns = new Set(of(resources, T.redrive).map((r) => json(r.props.redrivePolicy)?.deadLetterTargetArn));
        const watched = new Set(of(resources, T.alarm).filter((a) => a.props.metricName === "ApproximateNumberOfMessagesVisible").map((a) => a.props.dimensions?.QueueName));
        return of(resources, T.queue)
          .filter((queue) => deadLetterArns.has(queue.props.arn))
          .filter((queue) => !watched.has(queue.props.name))
          .map((queue) => ({ policy: "dlq-has-alarm", resource: queue.name, message: `dead-letter queue ${queue.name} has no depth alarm: dead letters would pile up unseen` }));
      },
    },
    {
      name: "no-secret-in-plain-environment",
      description: "No function has a secret (password, token, private key) in a plain environment variable.",
      check(resources) {
        return of(resources, T.fn).flatMap((fn) =>
          Object.keys(fn.props.environment?.variables ?? {})
            .filter((name) => secretLikeName(name, secretKeys))
            .map((name) => ({ policy: "no-secret-in-plain-environment", resource: fn.name, message: `${fn.name} has ${name} in its environment; keep it in Secrets Manager` })),
        );
      },
    },
  ];
}

const G = {
  subscription: "gcp:pubsub/subscription:Subscription",
  fn: "gcp:cloudfunctionsv2/function:Function",
  runInvoker: "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
  alert: "gcp:monitoring/alertPolicy:AlertPolicy",
} as const;

/** The GCP guardrails: the same promises as on AWS, in Pub/Sub and Cloud Functions terms. */
export function gcpGuardrails(secretKeys: readonly string[]): GuardrailPolicy[] {
  const pushed = (resources: readonly StackResource[]) => of(resources, G.subscription).filter((s) => s.props.pushConfig?.pushEndpoint);
  return [
    {
      name: "gcp-push-subscription-has-dlq-and-retry",
      description: "Every push subscription has a dead-letter policy (5 to 100 attempts) and a retry policy.",
      check(resources) {
        return pushed(resources).flatMap((sub) => {
          const attempts = Number(sub.props.deadLetterPolicy?.maxDeliveryAttempts);
          const found: Violation[] = [];
          if (!sub.props.deadLetterPolicy?.deadLetterTopic || !(attempts >= 5 && attempts <= 100)) {
            found.push({ policy: "gcp-push-subscription-has-dlq-and-retry", resource: sub.name, message: `${sub.name} has no dead-letter policy with 5 to 100 attempts` });
          }
          if (!sub.props.retryPolicy) found.push({ policy: "gcp-push-subscription-has-dlq-and-retry", resource: sub.name, message: `${sub.name} retries at once, without backoff (no retryPolicy)` });
          return found;
        });
      },
    },
    {
      name: "gcp-function-capped-with-own-identity",
      description: "Every function has an instance cap and its own service account.",
      check(resources) {
        return of(resources, G.fn).flatMap((fn) => {
          const config = fn.props.serviceConfig ?? {};
          const found: Violation[] = [];
          if (!(Number(config.maxInstanceCount) >= 1)) found.push({ policy: "gcp-function-capped-with-own-identity", resource: fn.name, message: `${fn.name} has no maxInstanceCount: nothing caps it` });
          if (!config.serviceAccountEmail || /-compute@developer\.gserviceaccount\.com$/.test(String(config.serviceAccountEmail))) {
            found.push({ policy: "gcp-function-capped-with-own-identity", resource: fn.name, message: `${fn.name} runs as the default compute account, which can do far more than it needs` });
          }
          return found;
        });
      },
    },
    {
      name: "gcp-pushed-function-not-public",
      description: "A function that receives pushed messages can be invoked only by an identity, never by everyone.",
      check(resources) {
        const pushedUrls = new Set(pushed(resources).map((s) => s.props.pushConfig.pushEndpoint));
        const pushedFunctions = new Set(of(resources, G.fn).filter((fn) => pushedUrls.has(fn.props.url)).map((fn) => fn.props.name ?? fn.name));
        return of(resources, G.runInvoker)
          .filter((m) => pushedFunctions.has(m.props.name) && /^(allUsers|allAuthenticatedUsers)$/.test(String(m.props.member)))
          .map((m) => ({ policy: "gcp-pushed-function-not-public", resource: m.name, message: `${m.name} lets ${String(m.props.member)} invoke ${String(m.props.name)}` }));
      },
    },
    {
      name: "gcp-dlq-has-alert",
      description: "Every dead-letter subscription has an alert on undelivered messages.",
      check(resources) {
        const deadLetterTopics = new Set(pushed(resources).map((s) => s.props.deadLetterPolicy?.deadLetterTopic).filter(Boolean));
        const filters = of(resources, G.alert).flatMap((a) => (a.props.conditions ?? []).map((c: any) => String(c.conditionThreshold?.filter ?? "")));
        return of(resources, G.subscription)
          .filter((sub) => deadLetterTopics.has(sub.props.topic))
          .filter((sub) => !filters.some((f) => f.includes(`"${sub.props.name ?? sub.name}"`) && f.includes("num_undelivered_messages")))
          .map((sub) => ({ policy: "gcp-dlq-has-alert", resource: sub.name, message: `dead-letter subscription ${sub.name} has no alert: dead letters would pile up unseen` }));
      },
    },
    {
      name: "gcp-no-secret-in-plain-environment",
      description: "No function has a secret in a plain environment variable (secretEnvironmentVariables only).",
      check(resources) {
        return of(resources, G.fn).flatMap((fn) =>
          Object.keys(fn.props.serviceConfig?.environmentVariables ?? {})
            .filter((name) => secretLikeName(name, secretKeys))
            .map((name) => ({ policy: "gcp-no-secret-in-plain-environment", resource: fn.name, message: `${fn.name} has ${name} in its plain environment; use a secret environment variable` })),
        );
      },
    },
  ];
}

const Z = {
  queue: "azure-native:servicebus:Queue",
  app: "azure-native:web:WebApp",
  role: "azure-native:authorization:RoleAssignment",
  alert: "azure-native:monitor:MetricAlert",
} as const;

/** Data roles that must be granted on one entity (a queue, a table, a secret), never on a whole namespace or account. */
const ENTITY_ROLES: Readonly<Record<string, RegExp>> = {
  "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": /\/queues\/[^/]+$/, // Service Bus Data Receiver
  "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": /\/queues\/[^/]+$/, // Service Bus Data Sender
  "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": /\/tables\/[^/]+$/, // Storage Table Data Contributor
  "76199698-9eea-4c19-bc75-cec21354c6b6": /\/tables\/[^/]+$/, // Storage Table Data Reader
  "4633458b-17de-408a-b874-0445c86b69e6": /\/secrets\/[^/]+$/, // Key Vault Secrets User
};
/** Roles that can do anything: never for a function. */
const BROAD_ROLES = new Set(["8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c", "090c5cfd-751d-490a-894a-3ce6f1109419"]); // Owner, Contributor, Service Bus Data Owner

const appSettings = (app: StackResource): Array<{ name: string; value: unknown }> => app.props.siteConfig?.appSettings ?? [];

/** The Azure guardrails: the same promises in Service Bus, Functions and Entra ID terms. */
export function azureGuardrails(secretKeys: readonly string[]): GuardrailPolicy[] {
  return [
    {
      name: "azure-queue-has-dlq",
      description: "Every Service Bus queue dead-letters after a bounded number of deliveries and on expiration.",
      check(resources) {
        return of(resources, Z.queue).flatMap((queue) => {
          const count = Number(queue.props.maxDeliveryCount);
          return count >= 1 && count <= 2000 && queue.props.deadLetteringOnMessageExpiration === true
            ? []
            : [{ policy: "azure-queue-has-dlq", resource: queue.name, message: `${queue.name} needs maxDeliveryCount (1 to 2000) and deadLetteringOnMessageExpiration, or failures and expired messages are lost or retried forever` }];
        });
      },
    },
    {
      name: "azure-function-capped-with-own-identity",
      description: "Every function app has a maximum instance count and a user-assigned identity no other app shares.",
      check(resources) {
        const apps = of(resources, Z.app);
        const identityOf = (app: StackResource): string[] => (app.props.identity?.type === "UserAssigned" ? (app.props.identity.userAssignedIdentities ?? []).map(String) : []);
        return apps.flatMap((app) => {
          const found: Violation[] = [];
          if (!(Number(app.props.functionAppConfig?.scaleAndConcurrency?.maximumInstanceCount) >= 1)) {
            found.push({ policy: "azure-function-capped-with-own-identity", resource: app.name, message: `${app.name} has no maximumInstanceCount: nothing caps it` });
          }
          const identities = identityOf(app);
          const shared = identities.some((id) => apps.some((other) => other !== app && identityOf(other).includes(id)));
          if (identities.length !== 1 || shared) {
            found.push({ policy: "azure-function-capped-with-own-identity", resource: app.name, message: `${app.name} needs exactly one user-assigned identity of its own` });
          }
          return found;
        });
      },
    },
    {
      name: "azure-roles-scoped-to-entities",
      description: "Data roles are assigned on one queue, table or secret, never on a namespace, account or group; no broad roles.",
      check(resources) {
        return of(resources, Z.role).flatMap((assignment) => {
          const role = String(assignment.props.roleDefinitionId ?? "").split("/").pop() ?? "";
          const scope = String(assignment.props.scope ?? "");
          const violation = (what: string) => [{ policy: "azure-roles-scoped-to-entities", resource: assignment.name, message: `${assignment.name} ${what}` }];
          if (BROAD_ROLES.has(role)) return violation(`grants a broad role (${role}) on ${scope}`);
          const entity = ENTITY_ROLES[role];
          return entity && !entity.test(scope) ? violation(`grants ${role} on ${scope}, not on one entity`) : [];
        });
      },
    },
    {
      name: "azure-dlq-has-alert",
      description: "Every Service Bus queue has a metric alert on its dead-lettered messages.",
      check(resources) {
        const watched = new Set(
          of(resources, Z.alert).flatMap((alert) =>
            (alert.props.criteria?.allOf ?? [])
              .filter((c: any) => c.metricName === "DeadletteredMessages")
              .flatMap((c: any) => (c.dimensions ?? []).filter((d: any) => d.name === "EntityName").flatMap((d: any) => d.values ?? [])),
          ),
        );
        return of(resources, Z.queue)
          .filter((queue) => !watched.has(queue.props.name ?? queue.name))
          .map((queue) => ({ policy: "azure-dlq-has-alert", resource: queue.name, message: `queue ${queue.name} has no alert on dead-lettered messages: dead letters would pile up unseen` }));
      },
    },
    {
      name: "azure-no-secret-in-plain-settings",
      description: "No function app has a secret in a plain app setting: Key Vault references only.",
      check(resources) {
        return of(resources, Z.app).flatMap((app) =>
          appSettings(app)
            .filter(({ name, value }) => secretLikeName(name, secretKeys) && !String(value).startsWith("@Microsoft.KeyVault("))
            .map(({ name }) => ({ policy: "azure-no-secret-in-plain-settings", resource: app.name, message: `${app.name} has ${name} as a plain app setting; use a Key Vault reference` })),
        );
      },
    },
  ];
}

/** Every guardrail, for every cloud (each only looks at its own cloud's resources). */
export function allGuardrails(secretKeys: readonly string[]): GuardrailPolicy[] {
  return [...guardrails(secretKeys), ...gcpGuardrails(secretKeys), ...azureGuardrails(secretKeys)];
}

/** Every violation of every guardrail. */
export function checkGuardrails(resources: readonly StackResource[], secretKeys: readonly string[]): Violation[] {
  return allGuardrails(secretKeys).flatMap((policy) => policy.check(resources));
}
