/**
 * Chaos: a poison message and a provider that hangs, on the e-mail and SMS channels (cap
 * 4 each). Behind fault proxies, the SMTP server never answers RCPT TO for a few messages
 * and the Twilio API never answers their requests; a message that is not a channel
 * message at all sits on each queue. The hung sends must time out, retry and end in the
 * dead-letter queue with their last error, the poison messages too, while the rest of each
 * channel keeps flowing; and the provider never sees more sends at once than the cap,
 * hung ones included. A flowing send can only go out twice if its own attempt timed out
 * after the provider took it (a loaded machine, a 2 s timeout): duplicates are counted and
 * bounded by those timeouts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestRuntime, type TestRuntime } from "../support/local-runtime";
import { startSmtpPeer, type SmtpPeer } from "../support/smtp-peer";
import { startTwilioPeer, type TwilioPeer } from "../support/twilio-peers";
import { chaosEvent, countBy, publishUntilAcknowledged, range, reportCounts, scale, waitUntilDrained } from "./chaos-support";
import { startHttpFaultProxy, startSmtpFaultProxy, type Fate, type FaultProxy } from "./fault-proxies";

const FLOWING = scale(200, 1_000);
const HUNG = 3;
const CAP = 4;
const MAX_ATTEMPTS = 3;

const CHANNELS = ["email", "sms"] as const;
type Channel = (typeof CHANNELS)[number];

let herald: TestRuntime | undefined;
let twilio: TwilioPeer | undefined;
let smtp: SmtpPeer | undefined;
const proxies: Partial<Record<Channel, FaultProxy>> = {};
afterAll(async () => {
  await herald?.stop();
  for (const proxy of Object.values(proxies)) await proxy.close();
  await twilio?.stop();
  await smtp?.close();
});

describe("chaos: a poison message and a hanging provider", () => {
  it(`keeps ${FLOWING} e-mails and SMS flowing past ${HUNG} hung sends and a poison message each, never above the cap of ${CAP}`, async () => {
    const startedAt = Date.now();
    const hangs = (identity: string): Fate => (identity.startsWith("hang") ? "hang" : "pass");
    smtp = await startSmtpPeer();
    twilio = await startTwilioPeer();
    proxies.email = await startSmtpFaultProxy(smtp.port, hangs);
    proxies.sms = await startHttpFaultProxy(twilio.baseUrl, (form) => form.get("Body") ?? "", hangs);
    const env: Record<string, string> = {
      HERALD_SMTP_URL: proxies.email.url,
      TWILIO_ACCOUNT_SID: `AC${"d".repeat(32)}`,
      TWILIO_AUTH_TOKEN: "chaos-token-chaos-token-chaos-01",
      HERALD_TWILIO_API_BASE: proxies.sms.url,
    };
    for (const channel of CHANNELS) {
      const prefix = `HERALD_CHANNEL_${channel.toUpperCase()}_`;
      Object.assign(env, { [`${prefix}CONCURRENCY`]: String(CAP), [`${prefix}MAX_ATTEMPTS`]: String(MAX_ATTEMPTS), [`${prefix}TIMEOUT_MS`]: "2000" });
    }
    herald = await startTestRuntime(env);

    // The poison messages: on the channel queues, but no channel message (no meta, no content).
    for (const channel of CHANNELS) {
      herald.runtime.queues.enqueue(channel, { poison: true });
      herald.runtime.workers.get(channel)!.notify();
    }
    // Hung sends spread through the flow.
    const contacts = (tag: string, n: number) => ({ email: `${tag}-${n}@example.com`, phone: "+14155550123" });
    const every = Math.floor(FLOWING / HUNG);
    const events = range(FLOWING).flatMap((n) => {
      const flowing = chaosEvent("flow", n, contacts("flow", n));
      return n % every === 0 && n / every < HUNG ? [chaosEvent("hang", n / every, contacts("hang", n / every)), flowing] : [flowing];
    });
    await publishUntilAcknowledged(() => herald!.url, events, 50);
    await waitUntilDrained(herald.runtime.queues, scale(150_000, 300_000));

    // What each provider got, by message: e-mail by recipient, SMS by text.
    const received: Record<Channel, Map<string, number>> = {
      email: countBy(smtp.received.flatMap((mail) => mail.envelope.to), (to) => to.replace(/@example\.com$/, "").replace("-", " ")),
      sms: countBy(twilio.requests, (request) => request.form.Body ?? ""),
    };

    let delivered = 0;
    let duplicates = 0;
    let deadLettered = 0;
    let lost = 0;
    const failures: string[] = [];
    const figures: Record<string, number> = {};
    for (const channel of CHANNELS) {
      const got = received[channel];
      const proxy = proxies[channel]!;
      const flowed = range(FLOWING).filter((n) => (got.get(`flow ${n}`) ?? 0) > 0).length;
      delivered += flowed;
      const twice = range(FLOWING).reduce((sum, n) => sum + Math.max(0, (got.get(`flow ${n}`) ?? 0) - 1), 0);
      duplicates += twice;
      // A flowing message is only ever called again after its send timed out (the proxy
      // passes every call to it): the one window where the provider may have taken it.
      const identity = (n: number) => (channel === "email" ? `flow-${n}@example.com` : `flow ${n}`);
      const timedOut = range(FLOWING).filter((n) => (proxy.calls.get(identity(n))?.length ?? 0) > 1).length;
      if (twice > timedOut) failures.push(`${channel}: ${twice} duplicates, but only ${timedOut} sends timed out`);
      const deadLetters = herald.runtime.queues.listDeadLetters<{ poison?: boolean; meta?: { eventId: string } }>(channel, { limit: 1000 });
      deadLettered += deadLetters.length;
      const hungDead = deadLetters.filter((d) => d.body.meta?.eventId.startsWith("hang-"));
      const poisonDead = deadLetters.filter((d) => d.body.poison === true);
      lost += FLOWING - flowed + (HUNG - hungDead.length) + (1 - poisonDead.length);
      // Every hung message was tried maxAttempts times, then dead-lettered with its timeout.
      if (hungDead.length !== HUNG || !hungDead.every((d) => d.attempts === MAX_ATTEMPTS && /timeout|ETIMEDOUT|abort/i.test(d.lastError ?? ""))) {
        failures.push(`${channel}: hung messages dead-lettered: ${JSON.stringify(hungDead.map((d) => [d.attempts, d.lastError]))}`);
      }
      // (An attempt can also time out before its call reaches the provider, queued behind hung ones.)
      if (proxy.injected().hang < HUNG || proxy.injected().hang > HUNG * MAX_ATTEMPTS) failures.push(`${channel}: ${proxy.injected().hang} hung calls for ${HUNG} messages`);
      if (poisonDead.length !== 1 || poisonDead[0]!.attempts !== MAX_ATTEMPTS) failures.push(`${channel}: poison dead letters ${JSON.stringify(poisonDead)}`);
      // The rest kept flowing while sends hung, and the cap held on both sides.
      if (proxy.passedWhileHung() === 0) failures.push(`${channel}: nothing was delivered while a send hung`);
      const peakInWorker = herald.runtime.workers.get(channel)!.peakInFlight;
      if (peakInWorker > CAP) failures.push(`${channel}: ${peakInWorker} in flight in the worker, cap ${CAP}`);
      if (proxy.peakConcurrent() > CAP) failures.push(`${channel}: ${proxy.peakConcurrent()} sends open at the provider at once, cap ${CAP}`);
      Object.assign(figures, {
        [`${channel}SendsTimedOutThenRetried`]: timedOut,
        [`${channel}DeliveredWhileAHungSendWasOpen`]: proxy.passedWhileHung(),
        [`${channel}PeakAtProvider`]: proxy.peakConcurrent(),
        [`${channel}PeakInWorker`]: peakInWorker,
      });
    }
    reportCounts("poison-and-hang", { published: CHANNELS.length * (FLOWING + HUNG + 1), delivered, duplicates, deadLettered, lost, cap: CAP, ...figures }, startedAt);

    expect(failures).toEqual([]);
    expect(delivered).toBe(CHANNELS.length * FLOWING);
    expect(lost).toBe(0);
    expect(deadLettered).toBe(CHANNELS.length * (HUNG + 1));
  }, scale(240_000, 600_000));
});
