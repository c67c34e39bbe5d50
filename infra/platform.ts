/**
 * What a cloud must provide for the fan-out: the component (fanout.ts) says what exists
 * and how it connects; each cloud module (aws/, gcp/, azure/) implements this interface
 * once, choosing its own resources. Handles are opaque to the component: only the
 * platform that made one looks inside.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { FunctionBundle } from "./bundle";
import type { ConsumerTopology } from "./topology";

/** Where producers publish events. */
export interface TopicHandle {
  /** The address publishers use (an ARN, a topic path, a Service Bus topic id). */
  readonly address: pulumi.Output<string>;
}

/** A consumer's queue together with its dead-letter queue. */
export interface QueueHandle {
  readonly consumer: string;
  readonly url: pulumi.Output<string>;
  readonly deadLetterUrl: pulumi.Output<string>;
}

export type StoreKind = "idempotency" | "recipients";

export interface StoreHandle {
  readonly kind: StoreKind;
  readonly name: pulumi.Output<string>;
}

export interface SecretHandle {
  readonly owner: string;
  readonly name: pulumi.Output<string>;
}

export interface FunctionHandle {
  readonly consumer: string;
  readonly name: pulumi.Output<string>;
}

/** Where alarms go: a topic or action group, with the optional e-mail subscription. */
export interface AlarmTargetHandle {
  readonly address: pulumi.Output<string>;
}

/**
 * Everything a function may touch. The platform turns this into the function's identity
 * and permissions (nothing more) and into its environment (addresses, table names).
 */
export interface FunctionAccess {
  /** The queue it is triggered from. */
  readonly consumes: QueueHandle;
  /** Queues it sends to, by channel (the rules function; a channel sends to its own queue to wait out quiet hours). */
  readonly sendsTo: ReadonlyArray<{ readonly channel: string; readonly queue: QueueHandle }>;
  /** The rules function keeps events that fail validation in its own dead-letter queue. */
  readonly sendsToDeadLetter?: QueueHandle;
  readonly stores: ReadonlyArray<{ readonly store: StoreHandle; readonly access: "read" | "read-write" }>;
  readonly secret?: SecretHandle;
  /** The rules function signs unsubscribe links: the endpoint they point to and the signing key. */
  readonly unsubscribe?: { readonly url: pulumi.Output<string>; readonly key: SecretHandle };
}

/** A public HTTPS endpoint served by a function (the unsubscribe link's target). */
export interface EndpointSpec {
  readonly name: string;
  readonly bundle: FunctionBundle;
  readonly stores: FunctionAccess["stores"];
  /** The key the endpoint verifies requests with. */
  readonly key: SecretHandle;
}

export interface EndpointHandle {
  readonly url: pulumi.Output<string>;
}

/** What a secret holds: one string (a channel's settings as JSON, or a signing key). */
export interface SecretSpec {
  /** The consumer or purpose it belongs to (`email`, `unsubscribe`). */
  readonly owner: string;
  /** The cloud name to give it (otherwise one is generated). */
  readonly secretName?: string;
  readonly value: pulumi.Output<string>;
}

export interface FunctionSpec {
  readonly consumer: ConsumerTopology;
  readonly bundle: FunctionBundle;
  readonly access: FunctionAccess;
  /** Non-secret settings for the environment. */
  readonly settings: Readonly<Record<string, string>>;
}

export interface Platform {
  readonly cloud: "aws" | "gcp" | "azure";
  /** The channel's effective cap on this cloud, when the cloud cannot express the requested one exactly. */
  effectiveConcurrency(consumer: ConsumerTopology): number;
  /** The deliveries before dead-lettering as deployed, when the cloud bounds them (Pub/Sub: 5 to 100). */
  effectiveMaxAttempts?(consumer: ConsumerTopology): number;
  alarmTarget(name: string, email: string | undefined, opts: pulumi.CustomResourceOptions): AlarmTargetHandle;
  topic(name: string, opts: pulumi.CustomResourceOptions): TopicHandle;
  store(name: string, kind: StoreKind, opts: pulumi.CustomResourceOptions): StoreHandle;
  secret(name: string, spec: SecretSpec, opts: pulumi.CustomResourceOptions): SecretHandle;
  queue(name: string, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): QueueHandle;
  /** Delivers every event published to `topic` into `queue`. */
  subscribe(name: string, topic: TopicHandle, queue: QueueHandle, opts: pulumi.CustomResourceOptions): void;
  function(name: string, spec: FunctionSpec, opts: pulumi.CustomResourceOptions): FunctionHandle;
  /** A public endpoint for links people click: no identity is required, the request is signed. */
  endpoint(name: string, spec: EndpointSpec, opts: pulumi.CustomResourceOptions): EndpointHandle;
  /** Runs `fn` on `queue`'s messages with the consumer's batch size and cap, reporting failures per message. */
  trigger(name: string, queue: QueueHandle, fn: FunctionHandle, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): void;
  /** Dead letters present, and the oldest message waiting too long, raise alarms to `target`. */
  queueAlarms(name: string, queue: QueueHandle, consumer: ConsumerTopology, target: AlarmTargetHandle, ageSeconds: number, opts: pulumi.CustomResourceOptions): void;
}
