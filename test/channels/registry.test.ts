import { describe, expect, it } from "vitest";
import { channelRegistry, channels } from "../../handlers/channels";
import { compileRules, evaluateEvent } from "../../handlers/core/evaluate";
import { InMemoryDirectory } from "../../handlers/core/in-memory-directory";
import { InMemoryFrequencyLimiter } from "../../handlers/core/policies";
import { TransientError } from "../../handlers/core/errors";
import type { ChannelAdapter, ChannelMessage } from "../../handlers/core/ports";
import { defineRule } from "../../handlers/core/rules";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { schemaSet } from "../../schemas/generated/schema-set";
import { example } from "../support/evaluation-fixture";

/** A fourth channel written the way a team would add one: one module, one registry line. */
interface ChatMessage extends ChannelMessage {
  readonly room: string;
  readonly text: string;
}
const chat: ChannelAdapter<ChatMessage, { url: string }, string> = {
  name: "chat",
  messageSchemaVersion: 1,
  defaults: { concurrency: 3, maxAttempts: 4, timeoutMs: 5000, batchSize: 5 },
  templateParts: [{ name: "text", format: "text" }],
  addressesOf: (contacts) => (typeof contacts.chat === "string" ? [{ address: contacts.chat, target: contacts.chat }] : []),
  buildMessage: ({ meta, target, parts }) => ({ ok: true, message: { meta, room: target, text: parts.text! } }),
  readConfig: (source) => ({ url: source.HERALD_CHAT_URL ?? "" }),
  createSender: () => ({ send: async () => ({}), close: async () => {} }),
  classify: (error) => new TransientError("chat-failed", String(error)),
  addressOf: (message) => message.room,
};

const chatSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://herald.dev/schemas/messages/chat/v1.schema.json",
  type: "object",
  additionalProperties: false,
  required: ["meta", "room", "text"],
  properties: {
    meta: { $ref: "https://herald.dev/schemas/messages/meta/v1.schema.json" },
    room: { type: "string", pattern: "^#[a-z0-9-]+$" },
    text: { type: "string", minLength: 1, maxLength: 4000 },
  },
};

describe("channel registry", () => {
  it("lists the built-in channels with their defaults and refuses duplicates", () => {
    expect(channels.map((c) => c.name)).toEqual(["email", "push", "sms"]);
    for (const channel of channels) {
      expect(channel.defaults.concurrency).toBeGreaterThan(0);
      expect(channel.defaults.maxAttempts).toBeGreaterThan(1);
    }
    expect(() => channelRegistry([...channels, channels[0]!])).toThrow(/two channel modules are named "email"/);
    expect(() => channelRegistry([{ ...chat, name: "Chat!" } as any])).toThrow(/lower-case/);
  });

  it("picks up a fourth channel from one module and one registry line", async () => {
    const registry = channelRegistry([...channels, chat]);
    expect([...registry.keys()]).toEqual(["email", "push", "sms", "chat"]);
    const rule = defineRule({
      name: "order-shipped-chat",
      eventType: "order.shipped",
      versions: [1, 2],
      category: "orders",
      recipients: { directory: "/customerId" },
      channels: { chat: {}, email: {} },
      templates: {
        defaultLocale: "en",
        locales: {
          en: {
            chat: { text: "Order {{ data.orderId }} shipped via {{ data.carrier }}" },
            email: { subject: "Shipped", html: "<p>{{ data.orderId }}</p>", text: "{{ data.orderId }}" },
          },
        },
      },
    });
    const result = await evaluateEvent(example("order.shipped", "v1-standard.json"), {
      registry: new SchemaRegistry({ ...schemaSet, messages: { ...schemaSet.messages, chat: { 1: chatSchema } } }),
      rules: compileRules([rule], registry),
      directory: new InMemoryDirectory([{ id: "cus_ada", contacts: { chat: "#ada-orders", email: "ada@example.com" } }]),
      limiter: new InMemoryFrequencyLimiter(),
    });
    if (!result.accepted) throw new Error(result.message);
    expect(result.outcomes.map((o) => `${o.channel}:${o.status}`)).toEqual(["chat:accepted", "email:accepted"]);
    expect(result.messages[0]).toMatchObject({ room: "#ada-orders", text: "Order ORD-10293 shipped via ups", meta: { channel: "chat" } });
  });

  it("refuses a rule that sends on a channel nobody registered", () => {
    const rule = defineRule({
      name: "to-fax",
      eventType: "order.shipped",
      versions: [1],
      category: "orders",
      recipients: { directory: "/customerId" },
      channels: { fax: {} },
      templates: { defaultLocale: "en", locales: { en: { fax: { body: "x" } } } },
    });
    expect(() => compileRules([rule], channelRegistry())).toThrow(/sends on "fax", which is not a registered channel \(email, push, sms\)/);
  });
});
