/**
 * The rules function imports every channel module to build messages but never sends, so
 * no channel module may load its delivery SDK until `createSender`. Checked in a fresh
 * Node process (vitest's own module cache would hide what a real require loads), through
 * tsx's CommonJS hook, as the functions run after esbuild.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const SDKS = ["nodemailer", "web-push", "twilio", "libphonenumber-js"] as const;

// Runs in the child. Prints, as JSON, which SDKs are in require.cache after each step.
const SCRIPT = `
require("tsx/cjs");
const path = require("node:path");
const { createECDH, randomBytes } = require("node:crypto");
const root = process.cwd();
const sdks = ${JSON.stringify(SDKS)};
const loaded = () => sdks.filter((sdk) =>
  Object.keys(require.cache).some((file) => file.includes(path.sep + "node_modules" + path.sep + sdk + path.sep)));
const steps = {};

const { email } = require(path.join(root, "handlers/channels/email.ts"));
const { push } = require(path.join(root, "handlers/channels/push.ts"));
const { sms } = require(path.join(root, "handlers/channels/sms.ts"));
steps.imported = loaded();

const meta = (channel) => ({
  idempotencyKey: "0".repeat(64), channel, eventId: "e", eventSource: "s", eventType: "t", eventVersion: 1,
  rule: "r", recipientId: "u", category: "c", critical: false, locale: "en", createdAt: "2026-01-01T00:00:00Z",
});
const browser = createECDH("prime256v1");
browser.generateKeys();
const contacts = {
  email: "alice@example.org",
  phone: "+14155552671",
  push: [{ endpoint: "https://push.example.net/x", keys: { p256dh: browser.getPublicKey("base64url"), auth: randomBytes(16).toString("base64url") } }],
};
const parts = { subject: "s", html: "<p>h</p>", text: "t", title: "t", body: "b", url: "https://example.org/" };
steps.built = {};
for (const adapter of [email, push, sms]) {
  const [address] = adapter.addressesOf(contacts);
  const built = adapter.buildMessage({ meta: meta(adapter.name), target: address.target, parts, options: {} });
  steps.built[adapter.name] = built.ok;
}
steps.afterBuild = loaded();

let vapid;
do {
  vapid = createECDH("prime256v1");
  vapid.generateKeys();
} while (vapid.getPrivateKey().length !== 32);
const env = {
  HERALD_SMTP_URL: "smtp://127.0.0.1:2525",
  HERALD_EMAIL_FROM: "no-reply@example.com",
  HERALD_VAPID_PUBLIC_KEY: vapid.getPublicKey("base64url"),
  HERALD_VAPID_PRIVATE_KEY: vapid.getPrivateKey("base64url"),
  HERALD_VAPID_SUBJECT: "mailto:ops@example.com",
  TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef",
  TWILIO_AUTH_TOKEN: "7f3c9a1e5b2d48f6a0c4e8b1d3f5a7c9",
  HERALD_SMS_FROM: "+14155550100",
};
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const senders = [];
for (const adapter of [email, push, sms]) {
  senders.push(adapter.createSender(adapter.readConfig(env), { logger }));
  steps["after" + adapter.name] = loaded();
}
Promise.all(senders.map((sender) => sender.close())).then(() => process.stdout.write(JSON.stringify(steps)));
`;

interface Steps {
  readonly imported: string[];
  readonly built: Record<string, boolean>;
  readonly afterBuild: string[];
  readonly afteremail: string[];
  readonly afterpush: string[];
  readonly aftersms: string[];
}

describe("channel modules load their delivery SDK only in createSender", () => {
  let steps: Steps;

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", SCRIPT], { cwd: ROOT, timeout: 30_000 });
    steps = JSON.parse(stdout) as Steps;
  });

  it("loads no SDK when the three modules are imported", () => {
    expect(steps.imported).toEqual([]);
  });

  it("loads no SDK to find addresses and build messages, and the builds succeed", () => {
    expect(steps.built).toEqual({ email: true, push: true, sms: true });
    expect(steps.afterBuild).toEqual([]);
  });

  it("loads each channel's own SDK in its createSender, and only that", () => {
    expect(steps.afteremail).toEqual(["nodemailer"]);
    expect(steps.afterpush).toEqual(["nodemailer", "web-push"]);
    expect(steps.aftersms).toEqual(["nodemailer", "web-push", "twilio", "libphonenumber-js"]);
  });
});
