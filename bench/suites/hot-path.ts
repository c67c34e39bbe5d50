/**
 * The rules hot path on one core: validation + rule matching + recipient policies +
 * template rendering + message validation for a typical event (one recipient, three
 * channels), and rule matching alone side by side with json-rules-engine on the same
 * conditions and events.
 */
import { readFileSync } from "node:fs";
import { Engine, type NestedCondition } from "json-rules-engine";
import { channelRegistry } from "../../handlers/channels";
import { compileRules, evaluateEvent } from "../../handlers/core/evaluate";
import { sha256Hex } from "../../handlers/core/idempotency-key";
import { InMemoryDirectory } from "../../handlers/core/in-memory-directory";
import { InMemoryFrequencyLimiter } from "../../handlers/core/policies";
import type { Condition } from "../../handlers/core/rules";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { rules } from "../../handlers/rules";
import { schemaSet } from "../../schemas/generated/schema-set";
import { ratio, repeat, throughput, type Figure, type Suite } from "../measure";

const subscription = {
  endpoint: "https://push.example.net/send/abc123",
  keys: { p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", auth: "tBHItJI5svbpez7KI4CCXg" },
};

function eventsFor(count: number): string[] {
  const template = JSON.parse(readFileSync("schemas/events/order.shipped/examples/v1-standard.json", "utf8"));
  return Array.from({ length: count }, (_, i) => JSON.stringify({ ...template, id: `bench-${i}` }));
}

/** Our condition language in json-rules-engine's, so both engines decide the same thing. */
function toEngineCondition(condition: Condition): NestedCondition {
  if ("all" in condition) return { all: condition.all.map(toEngineCondition) };
  if ("any" in condition) return { any: condition.any.map(toEngineCondition) };
  if ("not" in condition) return { not: toEngineCondition(condition.not) };
  const path = `$.${condition.path.slice(1).split("/").join(".")}`;
  const leaf = (operator: string, value: unknown): NestedCondition => ({ fact: "data", path, operator, value });
  if ("equals" in condition) return leaf("equal", condition.equals);
  if ("notEquals" in condition) return leaf("notEqual", condition.notEquals);
  if ("in" in condition) return leaf("in", condition.in);
  if ("notIn" in condition) return leaf("notIn", condition.notIn);
  if ("gt" in condition) return leaf("greaterThan", condition.gt);
  if ("gte" in condition) return leaf("greaterThanInclusive", condition.gte);
  if ("lt" in condition) return leaf("lessThan", condition.lt);
  if ("lte" in condition) return leaf("lessThanInclusive", condition.lte);
  throw new Error(`no json-rules-engine equivalent for ${JSON.stringify(condition)}`);
}

export const hotPath: Suite = {
  name: "hot path",
  async run({ quick }) {
    const ms = quick ? 400 : 2000;
    const repeats = quick ? 3 : 5;
    const registry = new SchemaRegistry(schemaSet);
    const compiled = compileRules(rules, channelRegistry());
    const context = {
      registry,
      rules: compiled,
      directory: new InMemoryDirectory([
        { id: "cus_ada", name: "Ada", contacts: { email: "ada@example.com", phone: "+14155550123", push: [subscription] }, locale: "en", timeZone: "Europe/Lisbon" },
      ]),
      limiter: new InMemoryFrequencyLimiter(),
      unsubscribe: { baseUrl: "https://notify.example.com/v1/unsubscribe", secret: "bench" },
    };
    const events = eventsFor(10_000);
    const first = await evaluateEvent(events[0]!, context);
    if (!first.accepted || first.messages.length !== 3) throw new Error("hot path benchmark: the sample event must yield three messages");

    const endToEnd = await repeat(repeats, () => throughput(ms, (i) => evaluateEvent(events[i % events.length]!, context)));

    // The floor: only the steps the issue makes mandatory for this event, with nothing
    // of ours around them: JSON.parse, envelope and data validation, three message
    // validations and three sha256 keys. No implementation can beat this rate here.
    const messages = first.messages.map((message) => ({ message, channel: message.meta.channel }));
    const floor = await repeat(repeats, () =>
      throughput(ms, (i) => {
        const event = JSON.parse(events[i % events.length]!);
        registry.validateEnvelope(event);
        registry.validateEventData(event.type, 1, event.data);
        for (const { message, channel } of messages) {
          registry.validateMessage(channel, 1, message);
          sha256Hex(JSON.stringify([event.source, event.id, "rule", "recipient", channel, "address"]));
        }
      }),
    );

    // Rule matching alone: the same facts (parsed events) and the same conditions.
    const parsed = events.slice(0, 1000).map((raw) => JSON.parse(raw));
    const probes = [
      ...parsed,
      ...readdirExamples().map((raw) => JSON.parse(raw)),
    ];
    const ours = () =>
      throughput(ms, (i) => {
        const event = probes[i % probes.length];
        const candidates = compiled.byEventType.get(event.type) ?? [];
        let matched = 0;
        for (const rule of candidates) if (rule.matches(event.data)) matched += 1;
        return matched;
      }, 1000);
    const engine = new Engine([], { allowUndefinedFacts: true });
    for (const { rule } of compiled.all) {
      const typeCheck = { fact: "type", operator: "equal", value: rule.eventType };
      engine.addRule({ name: rule.name, conditions: { all: rule.when ? [typeCheck, toEngineCondition(rule.when)] : [typeCheck] }, event: { type: rule.name } });
    }
    // Same verdicts first: a faster engine that decides differently proves nothing.
    for (const event of probes) {
      const theirs = (await engine.run({ type: event.type, data: event.data })).events.map((e) => e.type).sort();
      const mine = (compiled.byEventType.get(event.type) ?? []).filter((r) => r.matches(event.data)).map((r) => r.rule.name).sort();
      if (JSON.stringify(theirs) !== JSON.stringify(mine)) throw new Error(`engines disagree on ${event.type}: ${theirs} vs ${mine}`);
    }
    const jre = () => throughput(ms, (i) => engine.run({ type: probes[i % probes.length].type, data: probes[i % probes.length].data }), 100);
    const matchOurs = await repeat(repeats, ours);
    const matchTheirs = await repeat(repeats, jre);
    const full: Figure = { id: "hot-path.events-per-second", label: "validate + rules + render, 1 recipient x 3 channels", value: endToEnd.value, unit: "events/s", spread: endToEnd.spread, goal: ">= 50000", met: endToEnd.value >= 50_000 };
    const floorFigure: Figure = { id: "hot-path.floor-events-per-second", label: "floor: parse + 5 validations + 3 keys, nothing else", value: floor.value, unit: "events/s", spread: floor.spread };
    const ourMatch: Figure = { id: "hot-path.match-per-second", label: "rule matching alone (herald)", value: matchOurs.value, unit: "events/s", spread: matchOurs.spread };
    const theirMatch: Figure = { id: "hot-path.match-per-second.json-rules-engine", label: "rule matching alone (json-rules-engine 7.3)", value: matchTheirs.value, unit: "events/s", spread: matchTheirs.spread };
    return [
      full,
      floorFigure,
      ratio("hot-path.ratio-vs-floor", "herald hot path / its floor", full, floorFigure),
      ourMatch,
      theirMatch,
      ratio("hot-path.match-ratio", "herald / json-rules-engine, rule matching", ourMatch, theirMatch, { goal: "> 1", met: matchOurs.value > matchTheirs.value }),
    ];
  },
};

function readdirExamples(): string[] {
  const { readdirSync } = require("node:fs") as typeof import("node:fs");
  return readdirSync("schemas/events").flatMap((type: string) =>
    readdirSync(`schemas/events/${type}/examples`).map((file: string) => readFileSync(`schemas/events/${type}/examples/${file}`, "utf8")),
  );
}
