/**
 * Threat: event data (and recipient records) are attacker-controlled text that flows into
 * every template. HTML in it must come out escaped in HTML parts, and Liquid in it must
 * never be evaluated (a second rendering pass, or a template built by concatenation,
 * would run it). Checked for every shipped rule, in every locale it has, on every
 * channel, through the real rules evaluation; then end to end through the local runtime
 * into the three local sinks (SMTP, Web Push decrypted by the push service, Twilio API).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateEvent, type Evaluation } from "../../handlers/core/evaluate";
import type { Recipient } from "../../handlers/core/recipients";
import { rules } from "../../handlers/rules";
import { ada, evaluationContext, pushSubscription, registry } from "../support/evaluation-fixture";
import { shippedExamples, startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { testNotification } from "./fixtures";

/** HTML that would run, Liquid output that would compute PWNED!, a Liquid tag that would print ZQX alone. */
const HOSTILE = `<script>alert(1)</script><img src=x onerror=alert(2)>{{ "pwn" | append: "ed!" | upcase }}{% if true %}ZQX{% endif %}`;
/** The same, as LiquidJS's `escape` writes it: what an HTML part must contain instead. */
const HOSTILE_ESCAPED = HOSTILE.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&#34;").replace(/'/g, "&#39;");

interface Part {
  readonly where: string;
  readonly html: boolean;
  readonly value: string;
}

/** Every rendered part of every message, marked html or text. */
function partsOf(result: Evaluation & { accepted: true }): Part[] {
  return result.messages.flatMap((message) => {
    const m = message as unknown as Record<string, any>;
    const where = `${message.meta.rule}/${message.meta.locale}/${message.meta.channel}`;
    switch (message.meta.channel) {
      case "email":
        return [
          { where: `${where}/subject`, html: false, value: m.subject },
          { where: `${where}/html`, html: true, value: m.html },
          { where: `${where}/text`, html: false, value: m.text },
        ];
      case "push":
        return Object.entries(m.payload as Record<string, string>).map(([key, value]) => ({ where: `${where}/${key}`, html: false, value }));
      case "sms":
        return [{ where: `${where}/body`, html: false, value: m.body }];
      default:
        throw new Error(`a channel this test does not know: ${message.meta.channel}`);
    }
  });
}

/** Asserts one part is inert; returns how many copies of the hostile text it carries. */
function expectInert(part: Part): number {
  // Liquid in data never runs: no computed output, and the tag's body never stands alone.
  expect(part.value, part.where).not.toContain("PWNED!");
  const literal = part.value.split(part.html ? HOSTILE_ESCAPED : HOSTILE).length - 1;
  expect(part.value.split("ZQX").length - 1, `${part.where}: ZQX outside the literal text`).toBe(literal);
  if (part.html) {
    expect(part.value, part.where).not.toMatch(/<script|<img/i);
  }
  return literal;
}

/** Sets each string in `data` to HOSTILE where the event's schema allows it (formats and patterns refuse the rest). */
function poison(event: Record<string, any>, version: number): string[] {
  const poisoned: string[] = [];
  const visit = (node: Record<string, any> | any[], path: string): void => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === "string") {
        (node as any)[key] = HOSTILE;
        if (registry.validateEventData(event.type, version, event.data).length === 0) poisoned.push(`${path}/${key}`);
        else (node as any)[key] = value;
      } else if (typeof value === "object" && value !== null) visit(value, `${path}/${key}`);
    }
  };
  visit(event.data, "/data");
  return poisoned;
}

describe("HTML and Liquid in event data are inert in every template", () => {
  const cases = shippedExamples().flatMap(({ type, file, event }) => {
    const rule = rules.find((r) => r.eventType === type)!;
    return Object.keys(rule.templates.locales).map((locale) => [`${type} ${file} in ${locale}`, { event, locale, rule }] as const);
  });

  it.each(cases)("%s", async (_label, { event: original, locale, rule }) => {
    const event = structuredClone(original);
    const version = Number(/\/v(\d+)\.schema\.json$/.exec(event.dataschema)![1]);
    if (typeof event.data.locale === "string") event.data.locale = locale; // inline recipients (user.signed_up)
    // The inline test notification: give it a browser too, so all three channels render.
    if (typeof event.data.contacts === "object") event.data.contacts.pushSubscription = pushSubscription;
    const poisoned = poison(event, version);

    // Directory recipients: the one the event names, in this locale, with a hostile name too.
    const id = (event.data.customerId ?? event.data.userId) as string;
    const recipient: Recipient = { ...ada, id, name: HOSTILE, locale };
    const result = await evaluateEvent(event, evaluationContext({ recipients: [recipient] }));
    if (!result.accepted) throw new Error(`rejected: ${result.reason}`);

    // Every channel the rule sends on produced a message (none was refused for its content).
    expect(result.messages.map((m) => m.meta.channel).sort(), JSON.stringify(result.outcomes)).toEqual(Object.keys(rule.channels).sort());
    expect(result.messages.every((m) => m.meta.locale.startsWith(locale))).toBe(true);
    let reached = 0;
    for (const part of partsOf(result)) reached += expectInert(part);
    // The hostile text did reach the templates (the check above is not vacuous), through
    // the poisoned data fields or the recipient's name.
    expect(reached, `poisoned: ${poisoned.join(", ") || "(none; recipient name only)"}`).toBeGreaterThan(0);
  });
});

describe("end to end: hostile text delivered to the three local sinks stays inert", () => {
  let runtime: TestRuntime;

  beforeAll(async () => {
    runtime = await startTestRuntime();
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it("e-mail (SMTP sink), web push (decrypted by the push service) and SMS (Twilio API sink)", async () => {
    const subscription = await runtime.runtime.pushSink.createSubscription();
    const message = `Hi ${HOSTILE}`;
    const title = `T ${HOSTILE}`;
    const { event } = testNotification("/security/templates", {
      contacts: { email: "ada@example.com", phone: "+14155550123", pushSubscription: subscription },
      title,
      message,
    });
    expect((await runtime.post("/v1/events", event)).status).toBe(202);
    const deliveries = await waitFor(async () => {
      const { deliveries } = await runtime.get("/v1/deliveries");
      const mine = (deliveries as Array<{ channel: string; content: any }>).filter((d) => JSON.stringify(d.content).includes("ZQX"));
      return mine.length === 3 && mine;
    }, 15_000, "three deliveries");
    const byChannel = Object.fromEntries(deliveries.map((d) => [d.channel, d.content]));

    const mail = byChannel.email;
    expect(mail.subject).toBe(title);
    expect(mail.text).toContain(message);
    expect(mail.html).toContain(`Hi ${HOSTILE_ESCAPED}`);
    expect(mail.html).not.toMatch(/<script|<img/i);
    // What the push service decrypted is the JSON payload the service worker would show.
    expect(byChannel.push.payload).toMatchObject({ title, body: message });
    expect(byChannel.sms.body).toBe(message);
    for (const content of Object.values(byChannel)) expect(JSON.stringify(content)).not.toContain("PWNED!");
  });
});
