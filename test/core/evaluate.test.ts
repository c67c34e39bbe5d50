import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { channelRegistry } from "../../handlers/channels";
import { compileRules, evaluateEvent, type Evaluation, type Outcome } from "../../handlers/core/evaluate";
import { rules } from "../../handlers/rules";
import { interpretedParts } from "../../handlers/core/templates";
import { verifyUnsubscribe } from "../../handlers/core/unsubscribe";
import { ada, compiledRules, evaluationContext, example, registry } from "../support/evaluation-fixture";

type Accepted = Evaluation & { accepted: true };

async function evaluate(event: unknown, context = evaluationContext()): Promise<Accepted> {
  const result = await evaluateEvent(event as object, context);
  if (!result.accepted) throw new Error(`rejected: ${result.reason}: ${result.message}`);
  return result;
}

const byChannel = (outcomes: readonly Outcome[]) => Object.fromEntries(outcomes.map((o) => [o.channel, `${o.status}:${o.reason}`]));
const messageOn = (result: Accepted, channel: string) => result.messages.find((m) => m.meta.channel === channel) as any;

describe("evaluateEvent: order.shipped", () => {
  it("makes one valid message per channel with deterministic keys", async () => {
    const event = example("order.shipped", "v1-standard.json");
    const first = await evaluate(event);
    expect(first.matchedRules).toEqual(["order-shipped"]);
    expect(byChannel(first.outcomes)).toEqual({ email: "accepted:queued", push: "accepted:queued", sms: "accepted:queued" });
    expect(first.messages).toHaveLength(3);
    for (const message of first.messages) {
      expect(registry.validateMessage(message.meta.channel, 1, message)).toEqual([]);
      expect(message.meta).toMatchObject({ eventId: event.id, eventSource: "/shop/fulfilment", eventVersion: 1, rule: "order-shipped", recipientId: "cus_ada", category: "orders", critical: false });
    }
    const email = messageOn(first, "email");
    expect(email.to).toBe("ada@example.com");
    expect(email.subject).toBe("Your order ORD-10293 is on its way");
    expect(email.html).toContain("<li>2 × Black mug</li>");
    expect(email.text).toContain("Tracking number: 1Z999AA10123456784");
    expect(messageOn(first, "push").payload).toMatchObject({ title: "Order ORD-10293 shipped", url: "https://track.example.com/1Z999AA10123456784" });
    expect(messageOn(first, "push").topic).toBe("order-updates");
    expect(messageOn(first, "sms")).toMatchObject({ to: "+14155550123", segments: { encoding: "GSM-7", count: 1 } });

    const again = await evaluate(event);
    expect(again.messages.map((m) => m.meta.idempotencyKey)).toEqual(first.messages.map((m) => m.meta.idempotencyKey));
    const other = await evaluate({ ...event, id: "another-id" });
    expect(other.messages[0]!.meta.idempotencyKey).not.toBe(first.messages[0]!.meta.idempotencyKey);
  });

  it("renders in the recipient's language with fallback (de-AT → de) and a signed unsubscribe link", async () => {
    const result = await evaluate(example("order.shipped", "v2-with-estimate.json"));
    expect(byChannel(result.outcomes)).toEqual({ email: "accepted:queued", push: "filtered:no-contact-point", sms: "filtered:no-contact-point" });
    const email = messageOn(result, "email");
    expect(email.meta.locale).toBe("de");
    expect(email.subject).toBe("Ihre Bestellung ORD-10377 ist unterwegs");
    const link = new URL(email.unsubscribeUrl);
    expect(verifyUnsubscribe("test-secret", link.searchParams)).toEqual({ recipientId: "cus_grace", category: "orders", channel: "email" });
    link.searchParams.set("r", "cus_ada");
    expect(verifyUnsubscribe("test-secret", link.searchParams)).toBeUndefined();
    expect(email.html).toContain(`href="${email.unsubscribeUrl.replace(/&/g, "&amp;")}"`);
  });

  it("filters opted-out channels, suppresses suppressed addresses, and rejects unknown recipients", async () => {
    const context = evaluationContext({ recipients: [{ ...ada, optOuts: [{ category: "orders", channel: "sms" }] }] });
    await context.directory.suppress({ channel: "email", address: "ADA@example.com", reason: "hard-bounce", at: "2026-11-01T00:00:00Z" });
    const result = await evaluate(example("order.shipped", "v1-standard.json"), context);
    expect(byChannel(result.outcomes)).toEqual({ email: "suppressed:hard-bounce", push: "accepted:queued", sms: "filtered:opted-out" });
    expect(result.messages.map((m) => m.meta.channel)).toEqual(["push"]);

    const missing = await evaluate(example("order.shipped", "v1-standard.json", (e) => (e.data.customerId = "cus_nobody")), context);
    expect(missing.outcomes).toEqual([expect.objectContaining({ status: "rejected", reason: "recipient-not-found", recipientId: "cus_nobody" })]);
    expect(missing.messages).toEqual([]);
  });

  it("defers during quiet hours to the end of the window, in the recipient's zone", async () => {
    const context = evaluationContext({
      recipients: [{ ...ada, quietHours: { start: "22:00", end: "07:00" } }],
      now: "2026-11-20T23:15:00Z", // 23:15 in Lisbon (UTC+0 in November)
    });
    const result = await evaluate(example("order.shipped", "v1-standard.json"), context);
    expect(result.outcomes.every((o) => o.status === "deferred" && o.reason === "quiet-hours")).toBe(true);
    expect(result.messages).toHaveLength(3);
    expect(result.messages.every((m) => m.meta.notBefore === "2026-11-21T07:00:00.000Z")).toBe(true);
  });

  it("throttles past the frequency cap, and a redelivered event does not use the allowance twice", async () => {
    const context = evaluationContext({ policy: { frequencyCaps: { email: { limit: 2, windowSeconds: 3600 } } } });
    const events = ["e1", "e2", "e3"].map((id) => example("order.shipped", "v1-standard.json", (e) => (e.id = id)));
    const statuses: string[] = [];
    for (const event of [events[0], events[0], events[1], events[2]]) {
      const result = await evaluate(event, context);
      statuses.push(byChannel(result.outcomes).email!);
      expect(byChannel(result.outcomes).sms).toBe("accepted:queued");
    }
    expect(statuses).toEqual(["accepted:queued", "accepted:queued", "accepted:queued", "throttled:frequency-cap"]);
  });
});

describe("evaluateEvent: critical rules", () => {
  const alert = (risk: string) => example("security.login_alert", "v1-new-device.json", (e) => (e.data.riskLevel = risk));

  it("bypass opt-outs, quiet hours and caps, but never suppression", async () => {
    const context = evaluationContext({
      recipients: [{ ...ada, id: "cus_ada", optOuts: [{ category: "*", channel: "*" }], quietHours: { start: "00:00", end: "23:59" } }],
      policy: { frequencyCaps: { email: { limit: 0, windowSeconds: 3600 } } },
    });
    await context.directory.suppress({ channel: "sms", address: "+14155550123", reason: "opt-out", at: "2026-11-01T00:00:00Z" });
    const result = await evaluate(alert("high"), context);
    expect(byChannel(result.outcomes)).toEqual({ email: "accepted:queued", push: "accepted:queued", sms: "suppressed:opt-out" });
    expect(result.messages.every((m) => m.meta.critical && m.meta.notBefore === undefined)).toBe(true);
    expect(messageOn(result, "email").unsubscribeUrl).toBeUndefined();
    expect(messageOn(result, "push").urgency).toBe("high");
  });

  it("match only when the condition holds", async () => {
    expect((await evaluate(alert("low"))).matchedRules).toEqual([]);
    expect((await evaluate(alert("medium"))).matchedRules).toEqual(["login-alert"]);
    const processing = example("payment.failed", "v1-card-declined.json", (e) => (e.data.reason = "processing_error"));
    expect((await evaluate(processing)).messages).toEqual([]);
  });
});

describe("evaluateEvent: inline recipients", () => {
  it("welcomes a new user at the address in the event, keeping directory opt-outs for a known id", async () => {
    const signup = example("user.signed_up", "v1-pro.json");
    const fresh = await evaluate(signup);
    expect(messageOn(fresh, "email")).toMatchObject({ to: "linus@example.com", subject: "Willkommen, Linus" });
    const known = evaluationContext({ recipients: [{ id: "usr_linus", contacts: {}, optOuts: [{ category: "account", channel: "email" }] }] });
    expect(byChannel((await evaluate(signup, known)).outcomes)).toEqual({ email: "filtered:opted-out" });
  });

  it("sends a test notification to each contact point given", async () => {
    const result = await evaluate(example("herald.test_notification", "v1-email-and-sms.json"));
    expect(byChannel(result.outcomes)).toEqual({ email: "accepted:queued", push: "filtered:no-contact-point", sms: "accepted:queued" });
    expect(result.messages[0]!.meta.recipientId).toMatch(/^inline:[0-9a-f]{24}$/);
    expect(messageOn(result, "sms").body).toBe("If you can read this, the email and SMS channels are wired up.");
  });

  it("refuses an SMS over the segment limit and keeps the other channels", async () => {
    const long = example("herald.test_notification", "v1-email-and-sms.json", (e) => (e.data.message = "Ünïcødé ✓ ".repeat(45)));
    const result = await evaluate(long);
    expect(result.outcomes.find((o) => o.channel === "sms")).toMatchObject({ status: "rejected", reason: "too-many-segments" });
    expect(byChannel(result.outcomes).email).toBe("accepted:queued");
  });
});

describe("evaluateEvent: hostile data", () => {
  it("renders HTML and Liquid in event data inert", async () => {
    const hostile = example("user.signed_up", "v1-pro.json", (e) => {
      e.data.name = `<script>alert("x")</script>{{ 7 | plus: 7 }}{% raw %}`;
      e.data.locale = "en";
    });
    const email = messageOn(await evaluate(hostile), "email");
    expect(email.html).toContain("Welcome, &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;{{ 7 | plus: 7 }}{% raw %}!");
    expect(email.html).not.toContain("<script>");
    expect(email.text).toContain(`Welcome, <script>alert("x")</script>{{ 7 | plus: 7 }}{% raw %}!`);
    expect(email.subject).not.toContain("14");
  });

  it("returns a typed rejection for bad input instead of throwing", async () => {
    const context = evaluationContext();
    const cases: Array<[unknown, string]> = [
      ["{not json", "malformed-json"],
      [{ specversion: "1.0" }, "invalid-envelope"],
      [example("order.shipped", "v1-standard.json", (e) => (e.data.carrier = "pigeon")), "invalid-data"],
      [example("order.shipped", "v1-standard.json", (e) => (e.dataschema = e.dataschema.replace("v1", "v9"))), "unknown-version"],
    ];
    for (const [input, reason] of cases) {
      const result = await evaluateEvent(input as object, context);
      expect(result).toMatchObject({ accepted: false, reason });
    }
  });
});

describe("shipped rules", () => {
  it("render every template on the compiled path (the interpreter is 20-50x slower)", () => {
    for (const rule of compiledRules.all) expect(interpretedParts(rule.templates), rule.rule.name).toEqual([]);
  });
});

describe("compileRules with lazy templates", () => {
  it("evaluates every shipped example to the same outcomes and messages as an eager compile", async () => {
    const lazy = compileRules(rules, channelRegistry(), { lazyTemplates: true });
    let checked = 0;
    for (const type of readdirSync("schemas/events")) {
      for (const file of readdirSync(`schemas/events/${type}/examples`)) {
        const event = example(type, file);
        const eager = await evaluateEvent(event, evaluationContext());
        const fromLazy = await evaluateEvent(event, { ...evaluationContext(), rules: lazy });
        expect(fromLazy, `${type}/${file}`).toEqual(eager);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
    expect(lazy.all.map((rule) => rule.channels.map((channel) => channel.wantsUnsubscribeLink))).toEqual(
      compiledRules.all.map((rule) => rule.channels.map((channel) => channel.wantsUnsubscribeLink)),
    );
  });
});
