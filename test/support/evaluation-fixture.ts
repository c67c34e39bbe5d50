import { readFileSync } from "node:fs";
import { join } from "node:path";
import { channelRegistry } from "../../handlers/channels";
import { compileRules, type EvaluationContext } from "../../handlers/core/evaluate";
import { InMemoryDirectory } from "../../handlers/core/in-memory-directory";
import { InMemoryFrequencyLimiter, type PolicyConfig } from "../../handlers/core/policies";
import type { Recipient } from "../../handlers/core/recipients";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { rules } from "../../handlers/rules";
import { schemaSet } from "../../schemas/generated/schema-set";

/** A syntactically valid browser subscription (keys from a real P-256 key pair). */
export const pushSubscription = {
  endpoint: "https://push.example.net/send/abc123",
  keys: {
    p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    auth: "tBHItJI5svbpez7KI4CCXg",
  },
};

export const ada: Recipient = {
  id: "cus_ada",
  name: "Ada",
  contacts: { email: "ada@example.com", phone: "+14155550123", push: [pushSubscription] },
  locale: "en",
  timeZone: "Europe/Lisbon",
};

export const grace: Recipient = {
  id: "cus_grace",
  name: "Grace",
  contacts: { email: "grace@example.com" },
  locale: "de-AT",
  timeZone: "Europe/Vienna",
};

export const registry = new SchemaRegistry(schemaSet);
export const compiledRules = compileRules(rules, channelRegistry());

/** A fresh context over an in-memory directory; each test gets its own. */
export function evaluationContext(options: { recipients?: Recipient[]; policy?: PolicyConfig; now?: string } = {}): EvaluationContext & {
  directory: InMemoryDirectory;
} {
  return {
    registry,
    rules: compiledRules,
    directory: new InMemoryDirectory(options.recipients ?? [ada, grace]),
    limiter: new InMemoryFrequencyLimiter(),
    unsubscribe: { baseUrl: "https://notify.example.com/v1/unsubscribe", secret: "test-secret" },
    ...(options.policy ? { policy: options.policy } : {}),
    now: () => Date.parse(options.now ?? "2026-11-20T12:00:00Z"),
  };
}

/** A shipped example envelope, parsed, with `change` applied to a copy. */
export function example(type: string, file: string, change?: (event: Record<string, any>) => void): Record<string, any> {
  const event = JSON.parse(readFileSync(join("schemas/events", type, "examples", file), "utf8"));
  change?.(event);
  return event;
}
