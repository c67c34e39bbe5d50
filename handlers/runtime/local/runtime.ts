/**
 * The local target: the whole fan-out in one process on a durable SQLite store, with the
 * same rules, channel modules and delivery stage as the clouds, and local sinks that the
 * real channel code reaches over SMTP, Web Push and the Twilio API when no provider is
 * configured.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import webpush from "web-push";
import { channelRegistry, channels as registeredChannels } from "../../channels";
import { deliver } from "../../core/delivery";
import { compileRules, evaluateEvent, type CompiledRules } from "../../core/evaluate";
import { ConfigError } from "../../core/errors";
import { maskAddress } from "../../core/masking";
import type { ChannelAdapter, ChannelMessage, ChannelSender, ConfigSource, Logger } from "../../core/ports";
import type { Rule } from "../../core/rules";
import { SchemaRegistry } from "../../core/schema-registry";
import type { SchemaSet } from "../../core/schema-set";
import { rules as shippedRules } from "../../rules";
import { schemaSet as shippedSchemas } from "../../../schemas/generated/schema-set";
import { RuntimeChanges } from "./changes";
import { startCheckpointer } from "./checkpointer";
import { readLocalConfig, type LocalConfig } from "./config";
import { databasePath, openDatabase, type Database } from "./database";
import { lockDataDir } from "./data-dir-lock";
import { groupCommitFor } from "./group-commit";
import { SqliteInbox } from "./inbox";
import { createLogger } from "./logger";
import { QueueWorker, type Settlement } from "./queue-worker";
import { startSinksInWorker, type WorkerPushSink, type WorkerSmtpSink, type WorkerTwilioSink } from "./sinks/sink-worker";
import { startSendersInWorker, type SenderThread } from "./senders/sender-thread";
import { SqliteQueues } from "./sqlite-queue";
import { senderOrConfigFailure } from "../shared/channel-sender";
import { SqliteDirectory, SqliteEventLog, SqliteFrequencyLimiter, SqliteIdempotencyStore, SqliteOutcomes, type OutcomeRecord } from "./sqlite-stores";

/** The queue rules evaluation consumes; channel queues are named after their channel. */
export const RULES_QUEUE = "rules";

export interface LocalRuntimeOptions {
  readonly env?: ConfigSource;
  readonly logger?: Logger;
  /** Tests add a channel or rules; production uses the registries. */
  readonly channels?: readonly ChannelAdapter[];
  readonly rules?: readonly Rule[];
  readonly schemas?: SchemaSet;
}

/** What a running runtime exposes to its HTTP server, CLI and tests. */
export interface LocalRuntime {
  readonly config: LocalConfig;
  readonly db: Database;
  readonly queues: SqliteQueues;
  readonly registry: SchemaRegistry;
  readonly directory: SqliteDirectory;
  readonly eventLog: SqliteEventLog;
  readonly outcomes: SqliteOutcomes;
  readonly inbox: SqliteInbox;
  readonly rules: CompiledRules;
  readonly channels: ReadonlyMap<string, ChannelAdapter>;
  /** Where deliveries go: "local sink" or the configured provider, per channel. */
  readonly providers: Readonly<Record<string, string>>;
  readonly pushSink: WorkerPushSink;
  /**
   * The local sinks that are running (a channel with a real provider has none). They run
   * in a worker thread; their control calls are async and resolve once applied.
   */
  readonly sinks: { readonly smtp?: WorkerSmtpSink; readonly push: WorkerPushSink; readonly twilio?: WorkerTwilioSink };
  /** Signs and verifies one-click unsubscribe links. */
  readonly unsubscribeSecret: string;
  readonly workers: ReadonlyMap<string, QueueWorker<any>>;
  readonly logger: Logger;
  /** What happens, for watchers (the console's live updates). */
  readonly changes: RuntimeChanges;
  /** After an ingest of `events` committed: wakes the rules worker, and tells the checkpointer a burst may be arriving. */
  notifyIngest(events?: number): void;
  /** Where the HTTP server listens, once it does: unsubscribe links point there. */
  setPublicUrl(url: string): void;
  /** Stops taking work, finishes what is in flight, closes sinks, senders and the store. */
  stop(): Promise<void>;
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = options.env ?? process.env;
  const channelList = options.channels ?? registeredChannels;
  const config = readLocalConfig(env, channelList);
  const logger = options.logger ?? createLogger();
  const channels = channelRegistry(channelList);
  const registry = new SchemaRegistry(options.schemas ?? shippedSchemas);
  const rules = compileRules(options.rules ?? shippedRules, channels);

  mkdirSync(config.dataDir, { recursive: true });
  const unlock = lockDataDir(config.dataDir);
  const db = openDatabase(databasePath(config.dataDir), { manualCheckpoints: true });
  const queues = new SqliteQueues(db);
  // Alone on this store (the lock says so): leases found now belong to a process that died.
  const recovered = queues.releaseAllLeases();
  if (recovered > 0) logger.warn({ messages: recovered }, "recovered messages leased by a previous run that did not stop cleanly");
  const directory = new SqliteDirectory(db);
  const idempotency = new SqliteIdempotencyStore(db);
  // Likewise its idempotency claims: the messages they guard were just released above.
  const released = idempotency.releaseAllClaims();
  if (released > 0) logger.warn({ claims: released }, "released idempotency claims of a previous run that did not stop cleanly");
  const limiter = new SqliteFrequencyLimiter(db);
  const eventLog = new SqliteEventLog(db);
  const outcomes = new SqliteOutcomes(db);
  const inbox = new SqliteInbox(db);
  const secrets = loadLocalSecrets(config.dataDir);

  const commits = groupCommitFor(db);
  const changes = new RuntimeChanges();
  // The sink acknowledges a delivery once this promise resolves, i.e. once it committed.
  const record = (delivery: Parameters<typeof inbox.record>[0]) =>
    commits.run(() => inbox.record(delivery)).then(() => {
      if (changes.observed) changes.emit({ kind: "delivered", channel: delivery.channel });
    });
  const vapid = {
    publicKey: env.HERALD_VAPID_PUBLIC_KEY ?? secrets.vapid.publicKey,
    privateKey: env.HERALD_VAPID_PRIVATE_KEY ?? secrets.vapid.privateKey,
    subject: env.HERALD_VAPID_SUBJECT ?? "mailto:herald@example.com",
  };
  // Sinks: each started unless a real provider is configured for its channel. They stand
  // in for remote providers: they run on their own thread (second core), reached over
  // SMTP, Web Push and HTTP on 127.0.0.1. The checkpoint thread starts alongside (each
  // thread takes a few hundred ms to load), and if either fails, neither is left running.
  const useTwilioSink = !(env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN);
  const [checkpointing, sinking] = await Promise.allSettled([
    startCheckpointer(db.path, logger),
    startSinksInWorker({
      vapidPublicKey: vapid.publicKey,
      smtp: !env.HERALD_SMTP_URL,
      twilio: useTwilioSink,
      onDelivery: record,
      onError: (error) => logger.warn({ error: error.message }, "local sink error"),
    }),
  ]);
  if (checkpointing.status === "rejected" || sinking.status === "rejected") {
    if (checkpointing.status === "fulfilled") await checkpointing.value.stop();
    if (sinking.status === "fulfilled") await sinking.value.close();
    db.close();
    unlock();
    throw checkpointing.status === "rejected" ? checkpointing.reason : (sinking as PromiseRejectedResult).reason;
  }
  const checkpointer = checkpointing.value;
  const sinkWorker = sinking.value;
  const pushSink = sinkWorker.push;
  const smtpSink = sinkWorker.smtp;
  const twilioSink = sinkWorker.twilio;
  const pushSinkHost = new URL(pushSink.origin).host;
  const channelEnv: ConfigSource = {
    ...env,
    HERALD_SMTP_URL: env.HERALD_SMTP_URL ?? smtpSink!.url,
    HERALD_EMAIL_FROM: env.HERALD_EMAIL_FROM ?? "herald <herald@example.com>",
    HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
    HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
    HERALD_VAPID_SUBJECT: vapid.subject,
    HERALD_PUSH_ALLOW_HOSTS: [env.HERALD_PUSH_ALLOW_HOSTS, pushSinkHost].filter(Boolean).join(","),
    ...(twilioSink
      ? { TWILIO_ACCOUNT_SID: twilioSink.accountSid, TWILIO_AUTH_TOKEN: twilioSink.authToken, HERALD_TWILIO_API_BASE: twilioSink.apiBase }
      : {}),
    HERALD_SMS_FROM: env.HERALD_SMS_FROM ?? "+15005550006",
  };
  const providers: Record<string, string> = {
    email: smtpSink ? `local SMTP sink ${smtpSink.url.replace(/\/\/[^@]*@/, "//")}` : `SMTP ${maskSecretUrl(env.HERALD_SMTP_URL!)}`,
    push: `Web Push (local subscriptions at ${pushSink.origin})`,
    sms: twilioSink ? `local Twilio sink ${twilioSink.apiBase}` : `Twilio ${env.HERALD_TWILIO_API_BASE ?? "api.twilio.com"}`,
  };

  // The registered channels send from a thread of their own (their CPU is most of a
  // delivery's); channels a caller passes in (tests) are objects a thread cannot share,
  // so they send from this one.
  const senders = new Map<string, ChannelSender>();
  let senderThread: SenderThread | undefined;
  if (options.channels === undefined) {
    try {
      senderThread = await startSendersInWorker({ channels: [...channels.keys()], env: channelEnv, logger, debug: /^(debug|trace)$/.test(env.HERALD_LOG_LEVEL ?? "") });
    } catch (error) {
      await sinkWorker.close();
      await checkpointer.stop();
      db.close();
      unlock();
      throw error;
    }
    for (const [name, sender] of senderThread.senders) senders.set(name, sender);
    for (const [name, error] of senderThread.unconfigured) reportUnconfigured(name, error);
  } else {
    for (const adapter of channels.values()) senders.set(adapter.name, senderOrConfigFailure(adapter, channelEnv, logger));
  }
  function reportUnconfigured(channel: string, error: unknown): void {
    // A channel whose settings are wrong still queues its messages; they retry slowly
    // (ConfigError) until an operator fixes the settings and restarts.
    logger.error({ channel, error: (error as Error).message, alarm: true }, "channel not configured; its messages will retry slowly");
  }

  const workers = new Map<string, QueueWorker<any>>();
  const notifyChannels = () => {
    for (const [name, worker] of workers) if (name !== RULES_QUEUE) worker.notify();
  };
  const unsubscribe = { baseUrl: `http://${config.host}:${config.port}/v1/unsubscribe`, secret: secrets.unsubscribeSecret };
  const evaluation = { registry, rules, directory, limiter, unsubscribe };

  const rulesWorker = new QueueWorker<unknown>({
    queue: RULES_QUEUE,
    queues,
    db,
    concurrency: config.rulesConcurrency,
    batchSize: 50,
    leaseMs: 30_000,
    maxAttempts: config.rulesMaxAttempts,
    pollMs: config.pollMs,
    logger,
    onSettled: notifyChannels,
    handle: async (message): Promise<Settlement> => {
      const result = await evaluateEvent(message.body as object, evaluation);
      const now = Date.now();
      if (!result.accepted) {
        // Validated at ingest; only a schema change between ingest and now lands here.
        logger.warn({ reason: result.reason }, "event rejected by rules evaluation");
        return { kind: "ack" };
      }
      const log = childLogger(logger, { eventId: result.event.id, eventSource: result.event.source });
      log.info({ type: result.event.type, version: result.version, rules: result.matchedRules, messages: result.messages.length }, "event evaluated");
      if (changes.observed) changes.emit({ kind: "evaluated", eventSource: result.event.source, eventId: result.event.id, rules: result.matchedRules, messages: result.messages.length });
      const records: OutcomeRecord[] = result.outcomes.map((outcome) => ({ ...outcome, eventSource: result.event.source, eventId: result.event.id, at: now }));
      const items = result.messages.map((msg) => ({
        queue: msg.meta.channel,
        body: msg,
        ...(msg.meta.notBefore ? { delayMs: Math.max(0, Date.parse(msg.meta.notBefore) - now) } : {}),
      }));
      return {
        kind: "ack",
        apply: () => {
          // In the same transaction as the ack: the messages land exactly when the event is done.
          if (items.length > 0) queues.enqueueMany(items);
          outcomes.append(records);
        },
      };
    },
  });
  workers.set(RULES_QUEUE, rulesWorker);

  for (const adapter of channels.values()) {
    const settings = config.channels.get(adapter.name)!;
    const effective = { ...adapter, defaults: settings };
    const sender = senders.get(adapter.name)!;
    const context = { adapter: effective, sender, idempotency, directory, logger, retry: config.retry };
    workers.set(
      adapter.name,
      new QueueWorker<ChannelMessage>({
        queue: adapter.name,
        queues,
        db,
        concurrency: settings.concurrency,
        batchSize: settings.batchSize,
        // SQS guidance: visibility at least six times the function timeout.
        leaseMs: settings.timeoutMs * 6,
        maxAttempts: settings.maxAttempts,
        pollMs: config.pollMs,
        logger,
        handle: async (message): Promise<Settlement> => {
          const msg = message.body;
          const base = { eventSource: msg.meta.eventSource, eventId: msg.meta.eventId, rule: msg.meta.rule, recipientId: msg.meta.recipientId, channel: adapter.name, idempotencyKey: msg.meta.idempotencyKey };
          const log = childLogger(logger, { eventId: msg.meta.eventId, channel: adapter.name, attempt: message.attempt });
          const outcome = await deliver(msg, message.attempt, context);
          const at = Date.now();
          if (changes.observed) {
            const error = outcome.status === "failed" || outcome.status === "retry" ? `${outcome.error.code}: ${outcome.error.message}` : undefined;
            changes.emit({ kind: "attempt", channel: adapter.name, eventSource: base.eventSource, eventId: base.eventId, idempotencyKey: base.idempotencyKey, attempt: message.attempt, result: outcome.status, at, ...(error ? { error } : {}) });
          }
          switch (outcome.status) {
            case "sent":
              log.info({ address: maskAddress(adapter.addressOf(msg)), providerMessageId: outcome.providerMessageId }, "sent");
              return { kind: "ack", apply: () => outcomes.append([{ ...base, status: "sent", reason: "delivered", at, ...(outcome.providerMessageId ? { detail: outcome.providerMessageId } : {}) }]) };
            case "duplicate":
              log.info({ previous: outcome.record.status }, "already handled; not sent again");
              // The earlier run may have died before recording its outcome; the outcome
              // log ignores a repeat of the same key and status.
              return { kind: "ack", apply: () => outcomes.append([{ ...base, status: outcome.record.status, reason: outcome.record.status === "sent" ? "delivered" : (outcome.record.reason ?? "failed"), at }]) };
            case "deferred":
              return { kind: "defer", untilMs: outcome.untilMs };
            case "busy":
              return { kind: "defer", untilMs: at + outcome.retryInMs };
            case "failed":
              log.warn({ code: outcome.error.code, suppress: outcome.error.suppress }, "failed permanently");
              return { kind: "ack", apply: () => outcomes.append([{ ...base, status: "failed", reason: outcome.error.code, detail: outcome.error.message, at }]) };
            case "retry": {
              const misconfigured = outcome.error instanceof ConfigError;
              (misconfigured ? log.error : log.warn)(
                { code: outcome.error.code, delayMs: outcome.delayMs, alarm: misconfigured || undefined },
                misconfigured ? "channel misconfigured; retrying slowly" : "failed; will retry",
              );
              return {
                kind: "retry",
                delayMs: outcome.delayMs,
                error: `${outcome.error.code}: ${outcome.error.message}`,
                onDeadLetter: () => {
                  log.error({ code: outcome.error.code, attempts: message.attempt }, "dead-lettered after maxAttempts");
                  outcomes.append([{ ...base, status: "dead-lettered", reason: outcome.error.code, detail: outcome.error.message, at }]);
                  if (changes.observed) changes.emit({ kind: "attempt", channel: adapter.name, eventSource: base.eventSource, eventId: base.eventId, idempotencyKey: base.idempotencyKey, attempt: message.attempt, result: "dead-lettered", at, error: `${outcome.error.code}: ${outcome.error.message}` });
                },
              };
            }
          }
        },
      }),
    );
  }

  for (const worker of workers.values()) worker.start();
  let stopped = false;
  return {
    config,
    db,
    queues,
    registry,
    directory,
    eventLog,
    outcomes,
    inbox,
    rules,
    channels,
    providers,
    pushSink,
    sinks: { push: pushSink, ...(smtpSink ? { smtp: smtpSink } : {}), ...(twilioSink ? { twilio: twilioSink } : {}) },
    unsubscribeSecret: secrets.unsubscribeSecret,
    workers,
    logger,
    changes,
    notifyIngest: (events = 1) => {
      checkpointer.noteIngest(events);
      rulesWorker.notify();
    },
    setPublicUrl: (url) => {
      unsubscribe.baseUrl = `${url}/v1/unsubscribe`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Rules first, so nothing new is enqueued for channels that are shutting down.
      await rulesWorker.stop();
      await Promise.all([...workers.entries()].filter(([name]) => name !== RULES_QUEUE).map(([, worker]) => worker.stop()));
      await Promise.all([...senders.values()].map((sender) => sender.close().catch(() => undefined)));
      await senderThread?.close();
      await sinkWorker.close();
      commits.flush();
      await checkpointer.stop();
      db.close();
      unlock();
    },
  };
}

/** The event id as correlation id on every line about one event, when the logger can bind fields. */
function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  const withChild = logger as Logger & { child?: (bindings: Record<string, unknown>) => Logger };
  return withChild.child ? withChild.child(bindings) : logger;
}

/** Keys the local runtime makes once and keeps in the data directory (mode 0600). */
interface LocalSecrets {
  readonly vapid: { readonly publicKey: string; readonly privateKey: string };
  readonly unsubscribeSecret: string;
}

function loadLocalSecrets(dataDir: string): LocalSecrets {
  const path = join(dataDir, "secrets.json");
  if (existsSync(path)) return JSON.parse(readFileSync(path, "utf8")) as LocalSecrets;
  const secrets: LocalSecrets = { vapid: webpush.generateVAPIDKeys(), unsubscribeSecret: randomBytes(32).toString("base64url") };
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

function maskSecretUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
