/**
 * Chaos: providers that fail 30% of calls transiently and 5% permanently. The shipped
 * e-mail and SMS channels send through fault proxies in front of real peers (an SMTP
 * server, a Twilio-compatible API): 451 or 550 at RCPT TO, 503/429 or 400 from the API.
 *
 * Every call's fate is drawn from a fixed seed per (message, call number), so what each
 * message must end as is known before the run: delivered (the transient failures retried
 * until a call passed), failed with the provider's reason (a permanent answer), or
 * dead-lettered after maxAttempts (transient every time). The run must match it message
 * for message, with nothing lost and nothing sent twice.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestRuntime, type TestRuntime } from "../support/local-runtime";
import { startSmtpPeer, type SmtpPeer } from "../support/smtp-peer";
import { startTwilioPeer, type TwilioPeer } from "../support/twilio-peers";
import { chaosEvent, countBy, publishUntilAcknowledged, range, reportCounts, scale, sleep, waitUntilDrained } from "./chaos-support";
import { expectedEnd, seededFate, startHttpFaultProxy, startSmtpFaultProxy, type FaultProxy } from "./fault-proxies";

const EVENTS = scale(300, 1_000);
const TAG = "fault";
const fate = seededFate("herald-chaos-provider-faults", { transient: 0.3, permanent: 0.05 });

let herald: TestRuntime | undefined;
const closers: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> }> = [];
afterAll(async () => {
  await herald?.stop();
  for (const peer of closers.reverse()) await (peer.close ?? peer.stop)!.call(peer);
});

describe("chaos: providers failing 30% transiently and 5% permanently", () => {
  it(`delivers every transient failure, records every permanent one, loses none (${EVENTS} events x e-mail and SMS)`, async () => {
    const startedAt = Date.now();
    const smtp: SmtpPeer = await startSmtpPeer();
    closers.push(smtp);
    const twilio: TwilioPeer = await startTwilioPeer();
    closers.push(twilio);
    const smtpProxy: FaultProxy = await startSmtpFaultProxy(smtp.port, fate);
    closers.push(smtpProxy);
    const smsProxy: FaultProxy = await startHttpFaultProxy(twilio.baseUrl, (form) => form.get("Body") ?? "", fate);
    closers.push(smsProxy);

    herald = await startTestRuntime({
      HERALD_SMTP_URL: smtpProxy.url,
      TWILIO_ACCOUNT_SID: `AC${"c".repeat(32)}`,
      TWILIO_AUTH_TOKEN: "chaos-token-chaos-token-chaos-00",
      HERALD_TWILIO_API_BASE: smsProxy.url,
    });
    const maxAttempts = { email: herald.runtime.config.channels.get("email")!.maxAttempts, sms: herald.runtime.config.channels.get("sms")!.maxAttempts };

    const address = (n: number) => `${TAG}-${n}@example.com`;
    const events = range(EVENTS).map((n) => chaosEvent(TAG, n, { email: address(n), phone: "+14155550123" }));
    await publishUntilAcknowledged(() => herald!.url, events, 100);
    await waitUntilDrained(herald.runtime.queues, scale(150_000, 300_000));
    // Outcomes are settled a commit after the sends; give the last one a moment.
    await sleep(200);

    const db = herald.runtime.db.connection;
    const ends = db
      .prepare<[], { event_id: string; channel: string; status: string; reason: string }>(
        "SELECT event_id, channel, status, reason FROM outcomes WHERE channel IN ('email', 'sms') AND status IN ('failed', 'dead-lettered')",
      )
      .all();
    const failedReason = new Map(ends.filter((e) => e.status === "failed").map((e) => [`${e.channel}:${e.event_id}`, e.reason]));
    const deadLetters = db.prepare<[], { queue: string; body: string }>("SELECT queue, body FROM dead_letters").all();
    const deadLettered = new Set(
      deadLetters.map((d) => {
        const body = JSON.parse(d.body) as { meta: { eventId: string } };
        return `${d.queue}:${body.meta.eventId}`;
      }),
    );
    const emailsTo = countBy(smtp.received.flatMap((mail) => mail.envelope.to), (to) => to.toLowerCase());
    const smsWith = countBy(twilio.requests, (request) => request.form.Body ?? "");

    let published = 0;
    let delivered = 0;
    let duplicates = 0;
    let failed = 0;
    let dead = 0;
    let lost = 0;
    let retriedThenDelivered = 0;
    const mismatches: string[] = [];
    for (const n of range(EVENTS)) {
      for (const channel of ["email", "sms"] as const) {
        published += 1;
        const identity = channel === "email" ? address(n) : `${TAG} ${n}`;
        const sent = (channel === "email" ? emailsTo : smsWith).get(identity) ?? 0;
        const key = `${channel}:${TAG}-${n}`;
        const actual = sent > 0 ? "delivered" : failedReason.has(key) ? "failed" : deadLettered.has(key) ? "dead-lettered" : "lost";
        if (actual === "delivered") {
          delivered += 1;
          duplicates += sent - 1;
          if ((smtpProxy.calls.get(identity) ?? smsProxy.calls.get(identity) ?? []).includes("transient")) retriedThenDelivered += 1;
        } else if (actual === "failed") failed += 1;
        else if (actual === "dead-lettered") dead += 1;
        else lost += 1;
        const expected = expectedEnd(fate, identity, maxAttempts[channel]);
        if (actual !== expected) mismatches.push(`${key}: expected ${expected}, got ${actual} (calls ${(smtpProxy.calls.get(identity) ?? smsProxy.calls.get(identity) ?? []).join(",")})`);
        if (actual === "failed") {
          const reason = failedReason.get(key);
          if (reason !== (channel === "email" ? "smtp-550" : "twilio-21617")) mismatches.push(`${key}: failed with reason ${reason}`);
        }
      }
    }
    const injected = { email: smtpProxy.injected(), sms: smsProxy.injected() };
    reportCounts(
      "provider-faults",
      {
        published,
        delivered,
        duplicates,
        deadLettered: dead,
        lost,
        failedPermanently: failed,
        transientAnswers: injected.email.transient + injected.sms.transient,
        permanentAnswers: injected.email.permanent + injected.sms.permanent,
        deliveredAfterRetries: retriedThenDelivered,
      },
      startedAt,
    );

    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(delivered + failed + dead).toBe(EVENTS * 2);
    // The faults happened, at about the rates asked for.
    expect(injected.email.transient + injected.sms.transient).toBeGreaterThan(0.2 * EVENTS);
    expect(retriedThenDelivered).toBeGreaterThan(0.2 * EVENTS);
    // Each permanent answer ends its message: one failed outcome per answer, no more.
    expect(failed).toBe(injected.email.permanent + injected.sms.permanent);
    expect(failed).toBeGreaterThan(0);
  }, scale(240_000, 600_000));
});
