/**
 * The fan-out on GCP: a Pub/Sub entry topic; per consumer an explicit push subscription
 * (OIDC token from a dedicated service account, retry policy, dead-letter policy) to a
 * Cloud Functions gen2 HTTP function, never an `eventTrigger` (whose own subscription
 * cannot get a dead-letter policy); per channel a topic and a dead-letter topic with a
 * pull subscription that keeps dead letters; Firestore collections in a database of the
 * stack's own; Secret Manager secrets as secret environment variables; one service
 * account per function; a Monitoring alert per dead-letter subscription.
 *
 * The cap is maxInstanceCount x maxInstanceRequestConcurrency; with one request per
 * instance, the instance count is the cap exactly.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudfunctionsv2 from "@pulumi/gcp/cloudfunctionsv2";
import * as cloudrunv2 from "@pulumi/gcp/cloudrunv2";
import * as firestore from "@pulumi/gcp/firestore";
import * as monitoring from "@pulumi/gcp/monitoring";
import * as organizations from "@pulumi/gcp/organizations";
import * as projects from "@pulumi/gcp/projects";
import * as pubsub from "@pulumi/gcp/pubsub";
import * as secretmanager from "@pulumi/gcp/secretmanager";
import * as serviceaccount from "@pulumi/gcp/serviceaccount";
import * as storage from "@pulumi/gcp/storage";
import { channelTopicVariable, GCP_ENV } from "../../handlers/runtime/gcp/env";
import type { FunctionBundle } from "../bundle";
import type {
  AlarmTargetHandle,
  EndpointHandle,
  EndpointSpec,
  FunctionHandle,
  FunctionSpec,
  Platform,
  QueueHandle,
  SecretHandle,
  SecretSpec,
  StoreHandle,
  StoreKind,
  TopicHandle,
} from "../platform";
import type { ConsumerTopology } from "../topology";

/** Pub/Sub accepts maxDeliveryAttempts from 5 to 100. */
export const GCP_MIN_DELIVERY_ATTEMPTS = 5;
export const GCP_MAX_DELIVERY_ATTEMPTS = 100;
/** The longest ack deadline Pub/Sub allows. */
const MAX_ACK_DEADLINE_SECONDS = 600;

interface GcpTopic extends TopicHandle {
  readonly topic: pubsub.Topic;
}
interface GcpQueue extends QueueHandle {
  /** Where the consumer's messages come from: the channel's own topic, or (set by subscribe) the entry topic for rules. */
  source?: pubsub.Topic;
  readonly deadLetterTopic: pubsub.Topic;
  readonly deadLetterSubscription: pubsub.Subscription;
  /** Set by `trigger`: the push subscription, for the age alarm. */
  subscription?: pubsub.Subscription;
}
interface GcpSecret extends SecretHandle {
  readonly secretId: pulumi.Output<string>;
  readonly secret: secretmanager.Secret;
}
interface GcpStore extends StoreHandle {
  readonly database: pulumi.Output<string>;
}
interface GcpFunction extends FunctionHandle {
  readonly url: pulumi.Output<string>;
  readonly fn: cloudfunctionsv2.Function;
}

export interface GcpPlatformOptions {
  readonly region: string;
}

export class GcpPlatform implements Platform {
  readonly cloud = "gcp" as const;
  private readonly project = organizations.getProjectOutput({});
  /** The project id every IAM binding and secret reference names. */
  private readonly projectId = this.project.apply((p) => p.projectId ?? "");
  private database?: firestore.Database;
  private codeBucket?: storage.Bucket;
  private pushAccount?: serviceaccount.Account;

  constructor(private readonly options: GcpPlatformOptions) {}

  effectiveConcurrency(consumer: ConsumerTopology): number {
    return consumer.concurrency;
  }

  /** Pub/Sub's range for maxDeliveryAttempts; `pulumi up` and the preview report a change. */
  effectiveMaxAttempts(consumer: ConsumerTopology): number {
    return Math.min(GCP_MAX_DELIVERY_ATTEMPTS, Math.max(GCP_MIN_DELIVERY_ATTEMPTS, consumer.maxAttempts));
  }

  alarmTarget(name: string, email: string | undefined, opts: pulumi.CustomResourceOptions): AlarmTargetHandle {
    if (!email) return { address: pulumi.output("") };
    const channel = new monitoring.NotificationChannel(name, { displayName: "herald alarms", type: "email", labels: { email_address: email } }, opts);
    return { address: channel.name };
  }

  topic(name: string, opts: pulumi.CustomResourceOptions): GcpTopic {
    const topic = new pubsub.Topic(name, {}, opts);
    return { address: topic.id, topic };
  }

  store(name: string, kind: StoreKind, opts: pulumi.CustomResourceOptions): GcpStore {
    // One database of the stack's own (the project's default one may already hold other data).
    this.database ??= new firestore.Database(
      `${name.replace(/-(idempotency|recipients)$/, "")}-db`,
      { locationId: this.options.region, type: "FIRESTORE_NATIVE", pointInTimeRecoveryEnablement: "POINT_IN_TIME_RECOVERY_ENABLED", deleteProtectionState: "DELETE_PROTECTION_ENABLED" },
      opts,
    );
    const collection = kind;
    if (kind === "idempotency") {
      // Idempotency keys and cap windows carry expireAt; the TTL policy removes them.
      new firestore.Field(name, { database: this.database.name, collection, field: "expireAt", ttlConfig: {}, indexConfig: {} }, opts);
    }
    return { kind, name: pulumi.output(collection), database: this.database.name };
  }

  secret(name: string, spec: SecretSpec, opts: pulumi.CustomResourceOptions): GcpSecret {
    const secret = new secretmanager.Secret(name, { secretId: spec.secretName ?? name, replication: { auto: {} } }, opts);
    new secretmanager.SecretVersion(name, { secret: secret.id, secretData: pulumi.secret(spec.value) }, opts);
    return { owner: spec.owner, name: secret.secretId, secretId: secret.secretId, secret };
  }

  queue(name: string, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): GcpQueue {
    // Rules consume the entry topic (see subscribe); a channel has a topic of its own.
    const source = consumer.kind === "channel" ? new pubsub.Topic(name, {}, opts) : undefined;
    const deadLetterTopic = new pubsub.Topic(`${name}-dlq`, {}, opts);
    // A pull subscription nobody pulls: it keeps the dead letters (7 days) for herald dlq.
    const deadLetterSubscription = new pubsub.Subscription(
      `${name}-dlq`,
      { topic: deadLetterTopic.id, ackDeadlineSeconds: 60, messageRetentionDuration: "604800s", expirationPolicy: { ttl: "" } },
      opts,
    );
    const queue: GcpQueue = { consumer: consumer.name, url: source ? source.id : pulumi.output(""), deadLetterUrl: deadLetterSubscription.id, deadLetterTopic, deadLetterSubscription };
    if (source) queue.source = source;
    return queue;
  }

  subscribe(_name: string, topic: TopicHandle, queue: QueueHandle, _opts: pulumi.CustomResourceOptions): void {
    // On Pub/Sub the rules consumer's "queue" is its push subscription on the entry
    // topic itself (made by trigger); publishers publish to that topic.
    const target = queue as GcpQueue;
    target.source = (topic as GcpTopic).topic;
    Object.assign(target, { url: target.source.id });
  }

  function(name: string, spec: FunctionSpec, opts: pulumi.CustomResourceOptions): GcpFunction {
    const { consumer, access } = spec;
    const account = this.serviceAccount(name, `herald ${consumer.name} function`, opts);
    const member = pulumi.interpolate`serviceAccount:${account.email}`;
    const grants: pulumi.Resource[] = [];
    for (const { channel, queue } of access.sendsTo) {
      grants.push(new pubsub.TopicIAMMember(`${name}-publishes-${channel}`, { topic: sourceOf(queue).name, role: "roles/pubsub.publisher", member }, opts));
    }
    const deadLetter = access.sendsToDeadLetter as GcpQueue | undefined;
    if (deadLetter) grants.push(new pubsub.TopicIAMMember(`${name}-dead-letters`, { topic: deadLetter.deadLetterTopic.name, role: "roles/pubsub.publisher", member }, opts));
    // Firestore has no per-collection IAM; datastore.user on the project is its narrowest role.
    if (access.stores.length > 0) grants.push(new projects.IAMMember(`${name}-firestore`, { project: this.projectId, role: "roles/datastore.user", member }, opts));
    const secrets: Array<{ key: string; secret: GcpSecret }> = [];
    if (access.secret) secrets.push({ key: GCP_ENV.channelSecrets, secret: access.secret as GcpSecret });
    if (access.unsubscribe) secrets.push({ key: GCP_ENV.unsubscribeSecret, secret: access.unsubscribe.key as GcpSecret });
    for (const { secret } of secrets) {
      grants.push(new secretmanager.SecretIamMember(`${name}-reads-${secret.owner}`, { secretId: secret.secret.id, role: "roles/secretmanager.secretAccessor", member }, opts));
    }
    const stores = access.stores.map(({ store }) => ({ store: store as GcpStore }));
    const fn = this.httpFunction(
      name,
      spec.bundle,
      {
        account,
        maxInstances: this.effectiveConcurrency(consumer),
        // One message per push request: the function's timeout is one message's.
        timeoutSeconds: Math.ceil(consumer.timeoutMs / 1000) + 10,
        memoryMb: consumer.memoryMb,
        environment: {
          ...spec.settings,
          NODE_OPTIONS: "--enable-source-maps",
          [GCP_ENV.firestoreDatabase]: stores[0]?.store.database ?? pulumi.output(""),
          ...Object.fromEntries(stores.map(({ store }) => [store.kind === "idempotency" ? GCP_ENV.idempotencyCollection : GCP_ENV.recipientsCollection, store.name])),
          ...Object.fromEntries(access.sendsTo.map(({ channel, queue }) => [channelTopicVariable(channel), sourceOf(queue).name])),
          ...(deadLetter ? { [GCP_ENV.rulesDeadLetterTopic]: deadLetter.deadLetterTopic.name } : {}),
          ...(access.unsubscribe ? { [GCP_ENV.unsubscribeBaseUrl]: access.unsubscribe.url } : {}),
          ...(consumer.kind === "channel" ? { [GCP_ENV.channelTimeoutMs]: String(consumer.timeoutMs) } : {}),
        },
        secrets,
      },
      { ...opts, dependsOn: grants },
    );
    return { consumer: consumer.name, name: fn.name, url: fn.url, fn };
  }

  endpoint(name: string, spec: EndpointSpec, opts: pulumi.CustomResourceOptions): EndpointHandle {
    const account = this.serviceAccount(name, "herald unsubscribe endpoint", opts);
    const member = pulumi.interpolate`serviceAccount:${account.email}`;
    const key = spec.key as GcpSecret;
    const grants = [
      new projects.IAMMember(`${name}-firestore`, { project: this.projectId, role: "roles/datastore.user", member }, opts),
      new secretmanager.SecretIamMember(`${name}-reads-key`, { secretId: key.secret.id, role: "roles/secretmanager.secretAccessor", member }, opts),
    ];
    const stores = spec.stores.map(({ store }) => ({ store: store as GcpStore }));
    const fn = this.httpFunction(
      name,
      spec.bundle,
      {
        account,
        maxInstances: 10,
        timeoutSeconds: 10,
        memoryMb: 256,
        environment: {
          [GCP_ENV.firestoreDatabase]: stores[0]?.store.database ?? pulumi.output(""),
          [GCP_ENV.recipientsCollection]: stores[0]?.store.name ?? pulumi.output("recipients"),
        },
        secrets: [{ key: GCP_ENV.unsubscribeSecret, secret: key }],
      },
      { ...opts, dependsOn: grants },
    );
    // Public on purpose: the people who click the link have no Google identity. The
    // link's HMAC signature is what stops anyone changing someone else's preferences.
    new cloudrunv2.ServiceIamMember(`${name}-public`, { location: this.options.region, name: fn.name, role: "roles/run.invoker", member: "allUsers" }, opts);
    return { url: fn.url };
  }

  trigger(name: string, queue: QueueHandle, fn: FunctionHandle, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): void {
    const target = queue as GcpQueue;
    const { url, fn: resource } = fn as GcpFunction;
    const pusher = this.pushServiceAccount(opts);
    // Only the push service account may invoke the function.
    const invoker = new cloudrunv2.ServiceIamMember(
      `${name}-invoker`,
      { location: this.options.region, name: resource.name, role: "roles/run.invoker", member: pulumi.interpolate`serviceAccount:${pusher.email}` },
      opts,
    );
    const agent = pulumi.interpolate`serviceAccount:service-${this.project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`;
    // The Pub/Sub service agent moves undeliverable messages: it publishes to the DLQ
    // topic and acknowledges them on the source subscription.
    const deadLetterPublisher = new pubsub.TopicIAMMember(`${name}-dlq-publisher`, { topic: target.deadLetterTopic.name, role: "roles/pubsub.publisher", member: agent }, opts);
    const subscription = new pubsub.Subscription(
      name,
      {
        topic: sourceOf(target).id,
        ackDeadlineSeconds: Math.min(MAX_ACK_DEADLINE_SECONDS, Math.max(10, Math.ceil(consumer.timeoutMs / 1000) + 10)),
        pushConfig: { pushEndpoint: url, oidcToken: { serviceAccountEmail: pusher.email, audience: url } },
        retryPolicy: { minimumBackoff: "10s", maximumBackoff: "600s" },
        deadLetterPolicy: { deadLetterTopic: target.deadLetterTopic.id, maxDeliveryAttempts: this.effectiveMaxAttempts(consumer) },
        expirationPolicy: { ttl: "" },
      },
      { ...opts, dependsOn: [invoker, deadLetterPublisher] },
    );
    new pubsub.SubscriptionIAMMember(`${name}-dlq-subscriber`, { subscription: subscription.name, role: "roles/pubsub.subscriber", member: agent }, opts);
    target.subscription = subscription;
  }

  queueAlarms(name: string, queue: QueueHandle, consumer: ConsumerTopology, target: AlarmTargetHandle, ageSeconds: number, opts: pulumi.CustomResourceOptions): void {
    const { deadLetterSubscription, subscription } = queue as GcpQueue;
    const channels = target.address.apply((address) => (address ? [address] : []));
    const threshold = (displayName: string, filter: pulumi.Output<string>, value: number) =>
      new monitoring.AlertPolicy(
        displayName,
        {
          displayName: `herald ${consumer.name}: ${displayName.replace(`${name}-`, "")}`,
          combiner: "OR",
          conditions: [
            {
              displayName: `${consumer.name} ${displayName.replace(`${name}-`, "")}`,
              conditionThreshold: { filter, comparison: "COMPARISON_GT", thresholdValue: value, duration: "60s", aggregations: [{ alignmentPeriod: "60s", perSeriesAligner: "ALIGN_MAX" }] },
            },
          ],
          notificationChannels: channels,
        },
        opts,
      );
    threshold(
      `${name}-dlq-depth`,
      pulumi.interpolate`resource.type = "pubsub_subscription" AND resource.labels.subscription_id = "${deadLetterSubscription.name}" AND metric.type = "pubsub.googleapis.com/subscription/num_undelivered_messages"`,
      0,
    );
    if (subscription) {
      threshold(
        `${name}-oldest-age`,
        pulumi.interpolate`resource.type = "pubsub_subscription" AND resource.labels.subscription_id = "${subscription.name}" AND metric.type = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"`,
        ageSeconds,
      );
    }
  }

  private serviceAccount(name: string, description: string, opts: pulumi.CustomResourceOptions): serviceaccount.Account {
    // accountId: 6-30 characters; names like herald-unsubscribe already use most of them.
    return new serviceaccount.Account(name, { accountId: name.slice(0, 30), displayName: description }, opts);
  }

  private pushServiceAccount(opts: pulumi.CustomResourceOptions): serviceaccount.Account {
    this.pushAccount ??= this.serviceAccount("herald-pubsub-push", "herald Pub/Sub push (OIDC)", opts);
    return this.pushAccount;
  }

  private httpFunction(
    name: string,
    bundle: FunctionBundle,
    settings: {
      account: serviceaccount.Account;
      maxInstances: number;
      timeoutSeconds: number;
      memoryMb: number;
      environment: Record<string, pulumi.Input<string>>;
      secrets: ReadonlyArray<{ key: string; secret: GcpSecret }>;
    },
    opts: pulumi.CustomResourceOptions,
  ): cloudfunctionsv2.Function {
    this.codeBucket ??= new storage.Bucket("herald-code", { location: this.options.region.toUpperCase(), uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" }, opts);
    // Named by content: an unchanged bundle is the same object, so no redeploy.
    const object = new storage.BucketObject(name, { bucket: this.codeBucket.name, name: `${bundle.consumer}-${bundle.sha256.slice(0, 32)}.zip`, source: codeArchive(bundle) }, opts);
    return new cloudfunctionsv2.Function(
      name,
      {
        location: this.options.region,
        buildConfig: { runtime: "nodejs22", entryPoint: "handler", source: { storageSource: { bucket: this.codeBucket.name, object: object.name } } },
        serviceConfig: {
          maxInstanceCount: settings.maxInstances,
          // One request at a time per instance: the instance count is the cap exactly.
          maxInstanceRequestConcurrency: 1,
          availableMemory: `${settings.memoryMb}M`,
          timeoutSeconds: settings.timeoutSeconds,
          serviceAccountEmail: settings.account.email,
          ingressSettings: "ALLOW_ALL",
          allTrafficOnLatestRevision: true,
          environmentVariables: settings.environment,
          secretEnvironmentVariables: settings.secrets.map(({ key, secret }) => ({ key, projectId: this.projectId, secret: secret.secretId, version: "latest" })),
        },
      },
      opts,
    );
  }
}

function sourceOf(queue: QueueHandle): pubsub.Topic {
  const source = (queue as GcpQueue).source;
  if (!source) throw new Error(`the ${queue.consumer} queue has no source topic; subscribe it to the entry topic first`);
  return source;
}

/** The function's source: the bundle, its map, and a package.json naming it and the client libraries the build installs. */
function codeArchive(bundle: FunctionBundle): pulumi.asset.AssetArchive {
  return new pulumi.asset.AssetArchive({
    "index.js": new pulumi.asset.StringAsset(bundle.code),
    "index.js.map": new pulumi.asset.StringAsset(bundle.sourceMap),
    "package.json": new pulumi.asset.StringAsset(
      `${JSON.stringify({ name: `herald-${bundle.consumer}`, private: true, main: "index.js", dependencies: bundle.dependencies }, null, 2)}\n`,
    ),
  });
}
