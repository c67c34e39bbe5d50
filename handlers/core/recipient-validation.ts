/**
 * The shape a recipient must have before any store accepts it (HTTP API, CLI): typed
 * errors with JSON pointers instead of a half-stored profile.
 */
import { ValidationError } from "./errors";
import { isValidTimeZone } from "./policies";
import type { Recipient } from "./recipients";
import { createAjv, toIssues } from "./schema-registry";

const subscription = {
  type: "object",
  additionalProperties: false,
  required: ["endpoint", "keys"],
  properties: {
    endpoint: { type: "string", format: "uri", pattern: "^https?://", maxLength: 2048 },
    expirationTime: { type: ["number", "null"] },
    keys: {
      type: "object",
      additionalProperties: false,
      required: ["p256dh", "auth"],
      properties: {
        p256dh: { type: "string", pattern: "^[A-Za-z0-9_-]+=*$", minLength: 80, maxLength: 100 },
        auth: { type: "string", pattern: "^[A-Za-z0-9_-]+=*$", minLength: 16, maxLength: 32 },
      },
    },
  },
};

export const RECIPIENT_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["id", "contacts"],
  properties: {
    id: { type: "string", minLength: 1, maxLength: 256, pattern: "^[^\\s]+$" },
    name: { type: "string", minLength: 1, maxLength: 200 },
    contacts: {
      type: "object",
      properties: {
        email: { type: "string", format: "email", maxLength: 254 },
        phone: { type: "string", pattern: "^\\+[1-9][0-9]{6,14}$" },
        push: { type: "array", maxItems: 20, items: subscription },
      },
    },
    locale: { type: "string", pattern: "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$" },
    timeZone: { type: "string", minLength: 1, maxLength: 64 },
    optOuts: {
      type: "array",
      maxItems: 200,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["category", "channel"],
        properties: { category: { type: "string", minLength: 1, maxLength: 64 }, channel: { type: "string", minLength: 1, maxLength: 32 } },
      },
    },
    quietHours: {
      type: "object",
      additionalProperties: false,
      required: ["start", "end"],
      properties: { start: { type: "string", pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$" }, end: { type: "string", pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$" } },
    },
  },
} as const;

// A schema in code, compiled at load: its tests catch a broken one, the meta-schema need not.
const validate = createAjv("fast", { checkSchemas: false }).compile(RECIPIENT_SCHEMA);

/** Returns the recipient typed, or throws `ValidationError` (`invalid-recipient`) naming each bad field. */
export function parseRecipient(value: unknown): Recipient {
  if (!validate(value)) {
    const issues = toIssues(validate.errors ?? []);
    throw new ValidationError("invalid-recipient", `invalid recipient: ${issues.map((i) => `${i.pointer || "/"} ${i.message}`).join("; ")}`, issues);
  }
  const recipient = value as Recipient;
  if (recipient.timeZone !== undefined && !isValidTimeZone(recipient.timeZone)) {
    throw new ValidationError("invalid-recipient", `invalid recipient: /timeZone "${recipient.timeZone}" is not an IANA time zone`, [
      { pointer: "/timeZone", keyword: "timeZone", message: "is not an IANA time zone" },
    ]);
  }
  return recipient;
}
