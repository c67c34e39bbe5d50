/**
 * Rules evaluation: one accepted event in, channel messages and an outcome for each
 * candidate out. Everything but the directory and the cap counter (both ports) is pure,
 * and every message key is deterministic, so evaluating a redelivered event again
 * yields the same messages and the delivery stage's idempotency store drops the repeats.
 */
import { parseEvent, summarize, validateEvent, type AcceptedEvent, type CloudEvent } from "./envelope";
import { HeraldError, ValidationError, type Issue } from "./errors";
import { idempotencyKey, sha256Hex } from "./idempotency-key";
import { isOptedOut, quietHoursEnd, type FrequencyLimiter, type PolicyConfig } from "./policies";
import type { ChannelAdapter, ChannelMessage, MessageMeta } from "./ports";
import type { Contacts, PushSubscriptionJson, Recipient, RecipientDirectory } from "./recipients";
import { compileCondition, compilePointer, RuleError, type Getter, type Rule } from "./rules";
import type { SchemaRegistry } from "./schema-registry";
import { compileRuleTemplates, renderTemplates, templateVariablePaths, type CompiledRuleTemplates, type TemplateContext } from "./templates";
import { unsubscribeUrl, type UnsubscribeConfig } from "./unsubscribe";

/** Every outcome herald reports, each with a reason code. */
export const OUTCOME_STATUSES = [
  "accepted",
  "rejected",
  "filtered",
  "suppressed",
  "deferred",
  "throttled",
  "sent",
  "failed",
  "dead-lettered",
] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

/** What happened to one candidate notification (a rule, a recipient, a channel, an address). */
export interface Outcome {
  readonly status: OutcomeStatus;
  /** Machine-readable: `opted-out`, `quiet-hours`, `hard-bounce`, `too-many-segments`, ... */
  readonly reason: string;
  readonly rule: string;
  readonly recipientId?: string;
  readonly channel?: string;
  readonly idempotencyKey?: string;
  readonly detail?: string;
}

export type Evaluation =
  | {
      readonly accepted: true;
      readonly event: CloudEvent;
      readonly version: number;
      /** Rules whose type, version and condition matched. */
      readonly matchedRules: readonly string[];
      /** To enqueue on their channel: accepted ones now, deferred ones with `meta.notBefore`. */
      readonly messages: readonly ChannelMessage[];
      readonly outcomes: readonly Outcome[];
    }
  | {
      readonly accepted: false;
      /** Validation error code: `malformed-json`, `unknown-type`, `invalid-data`, ... */
      readonly reason: string;
      readonly message: string;
      readonly issues: readonly Issue[];
    };

/** A rule made ready to run: condition, pointers and templates compiled once. */
export interface CompiledRule {
  readonly rule: Rule;
  readonly versions: ReadonlySet<number>;
  readonly matches: (data: unknown) => boolean;
  readonly recipients: RecipientResolver;
  readonly templates: CompiledRuleTemplates;
  readonly channels: ReadonlyArray<{
    readonly adapter: ChannelAdapter;
    readonly options: Readonly<Record<string, unknown>>;
    /** Sign an unsubscribe link for this channel (it carries one, or its templates print one). */
    readonly wantsUnsubscribeLink: boolean;
  }>;
}

export interface CompiledRules {
  readonly byEventType: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly all: readonly CompiledRule[];
}

/** The channel entry with `wantsUnsubscribeLink`: worked out now, or (lazy templates) on first read, once. */
function withUnsubscribeLink<E extends object>(entry: E, wants: () => boolean, lazy: boolean): E & { readonly wantsUnsubscribeLink: boolean } {
  if (!lazy) return { ...entry, wantsUnsubscribeLink: wants() };
  let known: boolean | undefined;
  return Object.defineProperty({ ...entry }, "wantsUnsubscribeLink", { get: () => (known ??= wants()), enumerable: true }) as E & {
    readonly wantsUnsubscribeLink: boolean;
  };
}

type RecipientResolver =
  | { readonly kind: "directory"; readonly ids: Getter }
  | { readonly kind: "inline"; readonly fields: Readonly<Record<string, Getter>> };

const RULE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * Checks and compiles rules against the registered channels. Throws `RuleError` or
 * `TemplateError` naming the rule: a broken rule fails at start, not per event.
 *
 * `lazyTemplates`: parse each rule's templates per channel on first use instead (see
 * `CompileTemplatesOptions.lazy`), for rules already checked in full elsewhere.
 */
export function compileRules(
  rules: readonly Rule[],
  channels: ReadonlyMap<string, ChannelAdapter>,
  options: { readonly lazyTemplates?: boolean } = {},
): CompiledRules {
  const byEventType = new Map<string, CompiledRule[]>();
  const names = new Set<string>();
  const all: CompiledRule[] = [];
  for (const rule of rules) {
    if (!RULE_NAME.test(rule.name)) throw new RuleError(`rule name "${rule.name}" must be kebab-case (a-z, 0-9, -)`);
    if (names.has(rule.name)) throw new RuleError(`two rules are named "${rule.name}"`);
    names.add(rule.name);
    if (rule.versions.length === 0) throw new RuleError(`rule "${rule.name}" accepts no versions`);
    const ruleChannels = Object.entries(rule.channels).map(([name, options]) => {
      const adapter = channels.get(name);
      if (!adapter) throw new RuleError(`rule "${rule.name}" sends on "${name}", which is not a registered channel (${[...channels.keys()].join(", ")})`);
      return { adapter, options };
    });
    const partsByChannel = Object.fromEntries(ruleChannels.map(({ adapter }) => [adapter.name, adapter.templateParts]));
    const templates = compileRuleTemplates(rule.name, rule.templates, partsByChannel, { lazy: options.lazyTemplates === true });
    // Signing a link costs an HMAC; only channels that can use one get it.
    const printsLink = (channel: string) =>
      templateVariablePaths(templates, channel).some((variable) => variable.path[0] === "links" && variable.path[1] === "unsubscribe");
    const compiled: CompiledRule = {
      rule,
      versions: new Set(rule.versions),
      matches: compileCondition(rule.when),
      recipients:
        "directory" in rule.recipients
          ? { kind: "directory", ids: compilePointer(rule.recipients.directory) }
          : {
              kind: "inline",
              fields: Object.fromEntries(
                Object.entries(rule.recipients.inline)
                  .filter((entry): entry is [string, `/${string}`] => typeof entry[1] === "string")
                  .map(([field, pointer]) => [field, compilePointer(pointer)]),
              ),
            },
      templates,
      channels: ruleChannels.map((entry) => withUnsubscribeLink(entry, () => entry.adapter.carriesUnsubscribeLink === true || printsLink(entry.adapter.name), options.lazyTemplates === true)),
    };
    all.push(compiled);
    const list = byEventType.get(rule.eventType) ?? [];
    list.push(compiled);
    byEventType.set(rule.eventType, list);
  }
  return { byEventType, all };
}

export interface EvaluationContext {
  readonly registry: SchemaRegistry;
  readonly rules: CompiledRules;
  readonly directory: RecipientDirectory;
  readonly limiter: FrequencyLimiter;
  readonly policy?: PolicyConfig;
  readonly unsubscribe?: UnsubscribeConfig;
  readonly defaultLocale?: string;
  /** Injected so tests can stand in quiet hours; defaults to the system clock. */
  readonly now?: () => number;
}

/**
 * Evaluates one event, raw JSON or a parsed object. Bad input never throws: it comes
 * back as `accepted: false` with a reason. Only a failing port (directory, limiter)
 * throws, so the rules queue retries the event.
 */
export async function evaluateEvent(input: string | Uint8Array | object, context: EvaluationContext): Promise<Evaluation> {
  let accepted: AcceptedEvent;
  try {
    accepted = typeof input === "string" || input instanceof Uint8Array ? parseEvent(input, context.registry) : validateEvent(input, context.registry);
  } catch (error) {
    if (error instanceof ValidationError) return { accepted: false, reason: error.code, message: error.message, issues: error.issues };
    throw error;
  }
  return evaluateAccepted(accepted, context);
}

/** Evaluates an event that already passed validation (the ingest stage validated it). */
export async function evaluateAccepted(accepted: AcceptedEvent, context: EvaluationContext): Promise<Evaluation & { accepted: true }> {
  const { event, version } = accepted;
  const nowMs = (context.now ?? Date.now)();
  const matched = (context.rules.byEventType.get(event.type) ?? []).filter((rule) => rule.versions.has(version) && rule.matches(event.data));
  const messages: ChannelMessage[] = [];
  const outcomes: Outcome[] = [];
  for (const rule of matched) {
    for (const resolved of await resolveRecipients(rule, event, context.directory)) {
      if (!resolved.recipient) {
        outcomes.push({ status: "rejected", reason: "recipient-not-found", rule: rule.rule.name, recipientId: resolved.id, detail: "no such recipient in the directory" });
        continue;
      }
      await planForRecipient(rule, resolved.recipient, accepted, nowMs, context, messages, outcomes);
    }
  }
  return { accepted: true, event, version, matchedRules: matched.map((rule) => rule.rule.name), messages, outcomes };
}

async function planForRecipient(
  compiled: CompiledRule,
  recipient: Recipient,
  accepted: AcceptedEvent,
  nowMs: number,
  context: EvaluationContext,
  messages: ChannelMessage[],
  outcomes: Outcome[],
): Promise<void> {
  const { rule } = compiled;
  const { event } = accepted;
  const critical = rule.critical === true;
  const base = { rule: rule.name, recipientId: recipient.id };
  const timeZone = recipient.timeZone ?? context.policy?.defaultTimeZone ?? "UTC";
  const deferUntil = critical ? undefined : quietHoursEnd(recipient.quietHours, timeZone, nowMs);
  for (const { adapter, options, wantsUnsubscribeLink } of compiled.channels) {
    const channel = adapter.name;
    const addresses = adapter.addressesOf(recipient.contacts);
    if (addresses.length === 0) {
      outcomes.push({ status: "filtered", reason: "no-contact-point", ...base, channel, detail: `no ${channel} address` });
      continue;
    }
    if (!critical && isOptedOut(recipient.optOuts, rule.category, channel)) {
      outcomes.push({ status: "filtered", reason: "opted-out", ...base, channel, detail: `opted out of ${rule.category} on ${channel}` });
      continue;
    }
    let rendered: { locale: string; parts: Record<string, string> } | undefined;
    const unsubscribe =
      !critical && wantsUnsubscribeLink && context.unsubscribe ? unsubscribeUrl(context.unsubscribe, recipient.id, rule.category, channel) : undefined;
    for (const { address, target } of addresses) {
      const key = idempotencyKey({ source: event.source, id: event.id, rule: rule.name, recipientId: recipient.id, channel, address });
      const keyed = { ...base, channel, idempotencyKey: key };
      const suppression = await context.directory.suppression(channel, address);
      if (suppression) {
        outcomes.push({ status: "suppressed", reason: suppression.reason, ...keyed, detail: `address suppressed since ${suppression.at}` });
        continue;
      }
      if (!rendered) {
        try {
          rendered = renderTemplates(compiled.templates, channel, recipient.locale ?? context.defaultLocale, templateContext(event, recipient, unsubscribe));
        } catch (error) {
          if (!(error instanceof HeraldError)) throw error;
          outcomes.push({ status: "rejected", reason: error.code, ...keyed, detail: error.message });
          break;
        }
      }
      const meta: MessageMeta = {
        idempotencyKey: key,
        channel,
        eventId: event.id,
        eventSource: event.source,
        eventType: event.type,
        eventVersion: accepted.version,
        rule: rule.name,
        recipientId: recipient.id,
        category: rule.category,
        critical,
        locale: rendered.locale,
        createdAt: new Date(nowMs).toISOString(),
        ...(deferUntil !== undefined ? { notBefore: new Date(deferUntil).toISOString() } : {}),
      };
      const built = adapter.buildMessage({ meta, target, parts: rendered.parts, options, ...(unsubscribe ? { unsubscribeUrl: unsubscribe } : {}) });
      if (!built.ok) {
        outcomes.push({ status: "rejected", reason: built.reason, ...keyed, detail: built.detail });
        continue;
      }
      const issues = context.registry.validateMessage(channel, adapter.messageSchemaVersion, built.message);
      if (issues.length > 0) {
        outcomes.push({ status: "rejected", reason: "invalid-message", ...keyed, detail: summarize(issues) });
        continue;
      }
      const cap = critical ? undefined : context.policy?.frequencyCaps?.[channel];
      if (cap && !(await context.limiter.acquire(`${recipient.id}\u0000${channel}`, key, cap, nowMs))) {
        outcomes.push({ status: "throttled", reason: "frequency-cap", ...keyed, detail: `more than ${cap.limit} per ${cap.windowSeconds}s on ${channel}` });
        continue;
      }
      messages.push(built.message);
      outcomes.push(
        deferUntil !== undefined
          ? { status: "deferred", reason: "quiet-hours", ...keyed, detail: `until ${meta.notBefore}` }
          : { status: "accepted", reason: "queued", ...keyed },
      );
    }
  }
}

function templateContext(event: CloudEvent, recipient: Recipient, unsubscribe: string | undefined): TemplateContext {
  return {
    event: { id: event.id, source: event.source, type: event.type, ...(event.time ? { time: event.time } : {}), ...(event.subject ? { subject: event.subject } : {}) },
    data: event.data,
    recipient: { id: recipient.id, ...(recipient.name ? { name: recipient.name } : {}), locale: recipient.locale ?? "en" },
    links: unsubscribe ? { unsubscribe } : {},
  };
}

async function resolveRecipients(
  compiled: CompiledRule,
  event: CloudEvent,
  directory: RecipientDirectory,
): Promise<Array<{ id: string; recipient: Recipient | undefined }>> {
  const source = compiled.recipients;
  if (source.kind === "directory") {
    const value = source.ids(event.data);
    const ids = [...new Set((Array.isArray(value) ? value : [value]).filter((id): id is string => typeof id === "string" && id !== ""))];
    return Promise.all(ids.map(async (id) => ({ id, recipient: await directory.get(id) })));
  }
  const read = (field: string): unknown => source.fields[field]?.(event.data);
  const contacts = inlineContacts(read);
  const givenId = read("id");
  const id = typeof givenId === "string" && givenId !== "" ? givenId : `inline:${sha256Hex(JSON.stringify(contacts)).slice(0, 24)}`;
  // Someone who is in the directory keeps their opt-outs, quiet hours and locale even
  // when the event carries the contact points.
  const known = typeof givenId === "string" ? await directory.get(id) : undefined;
  const name = read("name");
  const locale = read("locale");
  const timeZone = read("timeZone");
  const recipient: Recipient = {
    ...known,
    id,
    contacts,
    ...(typeof name === "string" ? { name } : known?.name ? { name: known.name } : {}),
    ...(typeof locale === "string" ? { locale } : known?.locale ? { locale: known.locale } : {}),
    ...(typeof timeZone === "string" ? { timeZone } : known?.timeZone ? { timeZone: known.timeZone } : {}),
  };
  return [{ id, recipient }];
}

function inlineContacts(read: (field: string) => unknown): Contacts {
  const email = read("email");
  const phone = read("phone");
  const push = read("push");
  const subscriptions = (Array.isArray(push) ? push : push === undefined ? [] : [push]) as PushSubscriptionJson[];
  return {
    ...(typeof email === "string" ? { email } : {}),
    ...(typeof phone === "string" ? { phone } : {}),
    ...(subscriptions.length > 0 ? { push: subscriptions } : {}),
  };
}
