/**
 * Threat: credentials and personal data leaking through what herald prints. The SMTP
 * password, the Twilio auth token and the VAPID private key must never appear in logs,
 * error messages (outcomes, dead letters), status output or preview output, in clear or
 * in the encodings the protocols use (SMTP AUTH PLAIN, HTTP Basic, percent-encoding);
 * e-mail addresses, phone numbers and push endpoints must be masked in logs.
 *
 * The local runtime runs for real, with its JSON logs captured at debug level, against
 * providers that refuse its credentials (an SMTP peer that answers 535, a Twilio peer
 * that answers 401/20003, a push service that answers 403 to the VAPID token), so every
 * error path runs; `herald status` and `herald dlq` run through the CLI code. The
 * preview's output is checked in preview-secrets.test.ts.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../handlers/runtime/local/logger";
import { startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { startScriptedServer, type ScriptedServer } from "../support/push-service";
import { startSmtpPeer, type SmtpPeer } from "../support/smtp-peer";
import { startTwilioPeer, twilioError, type TwilioPeer } from "../support/twilio-peers";
import { SMTP_PASSWORD, SMTP_USER, TWILIO_SID, TWILIO_TOKEN, VAPID, expectNoSecrets, subscriptionKeys, testNotification } from "./fixtures";
import { herald } from "./cli";

/** A pino destination that keeps every line it is given. */
function logCapture(): { stream: Writable; text(): string; lines(): Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return {
    stream,
    text: () => chunks.join(""),
    lines: () => chunks.join("").split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe("secrets stay out of logs, errors, status and dead letters when providers refuse them", () => {
  let smtp: SmtpPeer;
  let twilio: TwilioPeer;
  let pushService: ScriptedServer;
  let runtime: TestRuntime;
  const logs = logCapture();
  let deadLetters: Array<{ id: number; queue: string; lastError?: string }>;
  let published: ReturnType<typeof testNotification>;

  beforeAll(async () => {
    smtp = await startSmtpPeer({ credentials: { user: SMTP_USER, pass: "the-right-password" } });
    twilio = await startTwilioPeer();
    for (let i = 0; i < 8; i++) twilio.reply(twilioError(401, 20003, "Authenticate"));
    pushService = await startScriptedServer("127.0.0.1");
    pushService.respond((_req, res) => {
      res.writeHead(403, { "content-type": "text/plain" });
      res.end("invalid VAPID token");
    });
    runtime = await startTestRuntime(
      {
        HERALD_LOG_LEVEL: "debug",
        HERALD_SMTP_URL: `smtp://${SMTP_USER}:${encodeURIComponent(SMTP_PASSWORD)}@127.0.0.1:${smtp.port}`,
        TWILIO_ACCOUNT_SID: TWILIO_SID,
        TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
        HERALD_TWILIO_API_BASE: twilio.baseUrl,
        HERALD_VAPID_PUBLIC_KEY: VAPID.publicKey,
        HERALD_VAPID_PRIVATE_KEY: VAPID.privateKey,
        HERALD_VAPID_SUBJECT: "mailto:ops@example.com",
        HERALD_PUSH_ALLOW_HOSTS: pushService.hostPort,
        // One attempt each: the failure goes straight to the dead-letter queue.
        HERALD_CHANNEL_EMAIL_MAX_ATTEMPTS: "1",
        HERALD_CHANNEL_SMS_MAX_ATTEMPTS: "1",
        HERALD_CHANNEL_PUSH_MAX_ATTEMPTS: "1",
      },
      { logger: createLogger({ level: "debug", destination: logs.stream }) },
    );
    published = testNotification("/security/secrets", {
      contacts: { email: "ada@example.com", phone: "+14155550123", pushSubscription: { endpoint: `${pushService.origin}/push/${randomBytes(8).toString("hex")}`, keys: subscriptionKeys() } },
      message: "hello",
    });
    expect((await runtime.post("/v1/events", published.event)).status).toBe(202);
    deadLetters = await waitFor(async () => {
      const { deadLetters } = await runtime.get("/v1/dlq");
      return deadLetters.length === 3 && deadLetters;
    }, 15_000, "three dead letters");
  });
  afterAll(async () => {
    await runtime?.stop();
    await Promise.all([smtp?.close(), twilio?.stop(), pushService?.close()]);
  });

  it("each provider really was offered the secret and refused it (the checks below are not vacuous)", () => {
    expect(smtp.logins).toContainEqual({ method: "PLAIN", ok: false });
    expect(twilio.requests[0]?.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString("base64")}`);
    expect(String(pushService.requests[0]?.headers.authorization)).toMatch(/^vapid t=.+, k=/);
    expect(deadLetters.map((d) => d.queue).sort()).toEqual(["email", "push", "sms"]);
    // The errors say what is wrong, so an operator can act on them without the secret.
    const byQueue = Object.fromEntries(deadLetters.map((d) => [d.queue, d.lastError ?? ""]));
    expect(byQueue.email).toMatch(/credentials or server settings rejected/);
    expect(byQueue.sms).toMatch(/20003/);
    expect(byQueue.push).toMatch(/VAPID credentials rejected/);
  });

  it("the runtime's logs (debug level, sender thread included)", () => {
    const lines = logs.lines();
    expect(lines.filter((l) => l.msg === "dead-lettered after maxAttempts").map((l) => l.channel).sort()).toEqual(["email", "push", "sms"]);
    expectNoSecrets(logs.text(), "the logs");
  });

  it("error messages: outcomes, the dead-letter list and each dead letter, over HTTP", async () => {
    const outcomes = await runtime.get(`/v1/outcomes?source=${encodeURIComponent(published.source)}&id=${published.id}`);
    const dead = (outcomes.outcomes as Array<{ channel: string; status: string; detail?: string }>).filter((o) => o.status === "dead-lettered");
    expect(dead.map((o) => o.channel).sort()).toEqual(["email", "push", "sms"]);
    expect(dead.every((o) => typeof o.detail === "string" && o.detail.length > 0)).toBe(true);
    expectNoSecrets(JSON.stringify(outcomes), "GET /v1/outcomes");
    expectNoSecrets(JSON.stringify(await runtime.get("/v1/dlq")), "GET /v1/dlq");
    for (const { id } of deadLetters) expectNoSecrets(JSON.stringify(await runtime.get(`/v1/dlq/${id}`)), `GET /v1/dlq/${id}`);
  });

  it("herald status, herald status --json, herald dlq list and herald dlq show (the CLI code)", async () => {
    const status = await herald("status", "--url", runtime.url);
    expect(status.code).toBe(0);
    expect(status.output).toMatch(/email\s/);
    const json = await herald("status", "--json", "--url", runtime.url);
    // The provider line names the relay without its credentials.
    expect(JSON.parse(json.output).stages.email.provider).toBe(`SMTP smtp://***@127.0.0.1:${smtp.port}`);
    const list = await herald("dlq", "list", "--url", runtime.url);
    expect(list.output).toMatch(/email .*1 attempts/);
    const shown = await Promise.all(deadLetters.map(({ id }) => herald("dlq", "show", String(id), "--url", runtime.url)));
    for (const [where, { output }] of [["herald status", status], ["herald status --json", json], ["herald dlq list", list], ...shown.map((s, i) => [`herald dlq show ${deadLetters[i]!.id}`, s] as const)] as const) {
      expectNoSecrets(output, where);
    }
  });
});

describe("personal data is masked in the runtime's logs during real deliveries", () => {
  let runtime: TestRuntime;
  const logs = logCapture();

  beforeAll(async () => {
    runtime = await startTestRuntime({ HERALD_LOG_LEVEL: "debug" }, { logger: createLogger({ level: "debug", destination: logs.stream }) });
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it("e-mail addresses, phone numbers and push endpoints never appear in clear", async () => {
    const subscription = await runtime.runtime.pushSink.createSubscription();
    const email = `ada.lovelace.${randomBytes(3).toString("hex")}@example.com`;
    const phone = "+14155550199";
    const { event } = testNotification("/security/secrets", { contacts: { email, phone, pushSubscription: subscription }, message: "hello" });
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    await waitFor(async () => (await runtime.get("/v1/deliveries")).deliveries.length === 3, 15_000, "three deliveries");
    await waitFor(() => logs.lines().filter((l) => l.msg === "sent").length === 3, 5_000, "three 'sent' log lines");

    const text = logs.text();
    const endpoint = new URL(subscription.endpoint);
    expect(text).not.toContain(email);
    expect(text).not.toContain(email.split("@")[0]!);
    expect(text).not.toContain(phone);
    expect(text).not.toContain(phone.slice(1)); // without the plus
    expect(text).not.toContain(endpoint.pathname); // the subscription's capability token
    expect(text).not.toContain(subscription.keys.p256dh);
    expect(text).not.toContain(subscription.keys.auth);
    // What the log does say: enough to tell deliveries apart.
    const sent = logs.lines().filter((l) => l.msg === "sent").map((l) => l.address);
    expect(sent).toEqual(expect.arrayContaining(["a***@example.com", "+1415*****99", `${endpoint.origin}/***`]));
  });
});
