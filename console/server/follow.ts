/**
 * "Follow one event": which rules matched, which messages were made, and for each message
 * where it is now (queued, in flight, sent, failed, dead-lettered), its attempts and the
 * last error. Outcomes and queues are durable; the attempt-by-attempt history comes from
 * the runtime's change feed, so it covers what happened while the console was running.
 */
import type { OutcomeRecord } from "../../handlers/runtime/local/sqlite-stores";
import type { RuntimeChange } from "../../handlers/runtime/local/changes";
import type { LocalRuntime } from "../../handlers/runtime/local/runtime";
import type { FollowedEvent, FollowedMessage } from "./views";

type Attempt = Extract<RuntimeChange, { kind: "attempt" }>;

/** Attempts per idempotency key, the most recent keys kept (bounded memory). */
export class AttemptLog {
  private readonly byKey = new Map<string, Attempt[]>();

  constructor(private readonly maxKeys = 10_000) {}

  add(attempt: Attempt): void {
    const list = this.byKey.get(attempt.idempotencyKey);
    if (list) {
      // The retry that used the last attempt is reported again as the dead-lettering: one entry.
      const last = list[list.length - 1]!;
      if (attempt.result === "dead-lettered" && last.attempt === attempt.attempt) list[list.length - 1] = attempt;
      else if (list.length < 50) list.push(attempt);
      return;
    }
    if (this.byKey.size >= this.maxKeys) this.byKey.delete(this.byKey.keys().next().value!);
    this.byKey.set(attempt.idempotencyKey, [attempt]);
  }

  of(key: string): readonly Attempt[] {
    return this.byKey.get(key) ?? [];
  }
}

type QueueRow = { id: number; queue: string; body: string; attempts: number; last_error: string | null; available_at: number; lease_token: string | null };
type DeadRow = { id: number; queue: string; body: string; attempts: number; last_error: string | null };

/** Builds the follow view of one event. Full scans of the queue tables: fine for a local store, and only on request. */
export function followEvent(runtime: LocalRuntime, attempts: AttemptLog, source: string, id: string): FollowedEvent {
  const db = runtime.db;
  const seen = db.prepare<[string, string], { n: number }>("SELECT count(*) AS n FROM ingested_events WHERE source = ? AND id = ?").get(source, id)?.n ?? 0;
  const rulesRows = db
    .prepare<[string, string], QueueRow>("SELECT id, queue, body, attempts, last_error, available_at, lease_token FROM queue_messages WHERE queue = 'rules' AND json_extract(body, '$.source') = ? AND json_extract(body, '$.id') = ?")
    .all(source, id);
  const rulesDead = db.prepare<[string, string], DeadRow>("SELECT id, queue, body, attempts, last_error FROM dead_letters WHERE queue = 'rules' AND json_extract(body, '$.source') = ? AND json_extract(body, '$.id') = ?").all(source, id);
  const queued = db
    .prepare<[string, string], QueueRow>(
      "SELECT id, queue, body, attempts, last_error, available_at, lease_token FROM queue_messages WHERE queue != 'rules' AND json_extract(body, '$.meta.eventSource') = ? AND json_extract(body, '$.meta.eventId') = ?",
    )
    .all(source, id);
  const dead = db
    .prepare<[string, string], DeadRow>("SELECT id, queue, body, attempts, last_error FROM dead_letters WHERE queue != 'rules' AND json_extract(body, '$.meta.eventSource') = ? AND json_extract(body, '$.meta.eventId') = ?")
    .all(source, id);
  const outcomes = runtime.outcomes.forEvent(source, id);

  const messages = new Map<string, { base: Omit<FollowedMessage, "state" | "attempts" | "history">; outcome?: OutcomeRecord; queued?: QueueRow; dead?: DeadRow }>();
  const entry = (key: string, base: Omit<FollowedMessage, "state" | "attempts" | "history">) => {
    let found = messages.get(key);
    if (!found) messages.set(key, (found = { base }));
    return found;
  };
  const decisions: OutcomeRecord[] = [];
  for (const outcome of outcomes) {
    if (!outcome.idempotencyKey || !outcome.channel || (outcome.status !== "accepted" && !isDelivery(outcome.status) && outcome.status !== "deferred")) {
      decisions.push(outcome);
      continue;
    }
    const found = entry(outcome.idempotencyKey, { idempotencyKey: outcome.idempotencyKey, rule: outcome.rule, channel: outcome.channel, ...(outcome.recipientId ? { recipientId: outcome.recipientId } : {}) });
    // The latest delivery outcome wins over "accepted" (made) and "deferred" (held for quiet hours).
    if (!found.outcome || isDelivery(outcome.status) || !isDelivery(found.outcome.status)) found.outcome = outcome;
  }
  for (const row of queued) entry(metaOf(row.body).idempotencyKey, baseOf(row)).queued = row;
  for (const row of dead) entry(metaOf(row.body).idempotencyKey, baseOf(row)).dead = row;

  const now = Date.now();
  const followed: FollowedMessage[] = [...messages.values()].map(({ base, outcome, queued: row, dead: deadRow }) => {
    const history = attempts.of(base.idempotencyKey).map(({ attempt, result, error, at }) => ({ attempt, result, at, ...(error ? { error } : {}) }));
    const lastAttempt = history[history.length - 1];
    const state = deadRow
      ? "dead-lettered"
      : row
        ? row.lease_token !== null && row.available_at > now
          ? "in flight"
          : row.available_at > now
            ? row.attempts > 0
              ? "waiting to retry"
              : "delayed"
            : "queued"
        : (outcome?.status === "accepted" ? "queued" : outcome?.status) ?? "unknown";
    const lastError = deadRow?.last_error ?? row?.last_error ?? lastAttempt?.error;
    return {
      ...base,
      state,
      ...(outcome && isDelivery(outcome.status) ? { reason: outcome.reason, ...(outcome.detail ? { detail: outcome.detail } : {}) } : {}),
      attempts: deadRow?.attempts ?? row?.attempts ?? lastAttempt?.attempt ?? 0,
      ...(lastError ? { lastError } : {}),
      ...(deadRow ? { deadLetterId: deadRow.id } : {}),
      history,
    };
  });

  const rulesRow = rulesRows[0];
  const traceparent = rulesRow ? (JSON.parse(rulesRow.body) as { traceparent?: unknown }).traceparent : undefined;
  const matchedRules = [...new Set(outcomes.filter((o) => o.status === "accepted" || o.channel).map((o) => o.rule))];
  return {
    source,
    id,
    correlationId: id,
    ...(typeof traceparent === "string" ? { traceparent } : {}),
    stage: rulesDead.length > 0 ? "dead-lettered before rules" : rulesRow ? "waiting for rules" : seen > 0 ? "evaluated" : "unknown",
    accepted: seen > 0,
    matchedRules,
    decisions,
    messages: followed,
  };
}

const DELIVERY_STATUSES = new Set(["sent", "failed", "dead-lettered", "suppressed"]);
function isDelivery(status: string): boolean {
  return DELIVERY_STATUSES.has(status);
}

function metaOf(body: string): { idempotencyKey: string; rule: string; channel: string; recipientId?: string } {
  return (JSON.parse(body) as { meta: { idempotencyKey: string; rule: string; channel: string; recipientId?: string } }).meta;
}

function baseOf(row: { body: string }): Omit<FollowedMessage, "state" | "attempts" | "history"> {
  const meta = metaOf(row.body);
  return { idempotencyKey: meta.idempotencyKey, rule: meta.rule, channel: meta.channel, ...(meta.recipientId ? { recipientId: meta.recipientId } : {}) };
}
