/**
 * Threat: SMS pumping / toll fraud. Whoever controls a phone number in an event or a
 * recipient record can make herald text premium-rate numbers (revenue shared with the
 * attacker) or countries the operator never meant to pay for. The real SMS sender,
 * configured through its real config keys, must refuse them before any request reaches
 * Twilio (a scripted Twilio peer records every request); so must the whole local runtime.
 */
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sms, type SmsMessage } from "../../handlers/channels/sms";
import { PermanentError } from "../../handlers/core/errors";
import type { ChannelSender, Logger } from "../../handlers/core/ports";
import { startTestRuntime, waitFor, type TestRuntime } from "../support/local-runtime";
import { startTwilioPeer, type TwilioPeer } from "../support/twilio-peers";
import { messageMeta, testNotification } from "./fixtures";

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Valid numbers outside US/GB, several sharing a calling code with an allowed country. */
const OUTSIDE_US_GB = {
  "+33612345678": "FR",
  "+491701234567": "DE",
  "+447911123456": "GG", // +44, but Guernsey
  "+447797123456": "JE", // +44, but Jersey
  "+16135550123": "CA", // +1, but Canada
  "+17872345678": "PR", // +1, but Puerto Rico
  "+18762345678": "JM", // +1, but Jamaica (a classic pumping destination)
} as const;

/** Premium-rate and shared-cost numbers in several numbering plans (libphonenumber's own verdict is checked too). */
const PREMIUM = {
  "+19009999999": "PREMIUM_RATE", // US 1-900
  "+449098790000": "PREMIUM_RATE", // GB 09
  "+448712345678": "PREMIUM_RATE", // GB 0871
  "+448431234567": "PREMIUM_RATE", // GB 0843
  "+499001234567": "PREMIUM_RATE", // DE 0900
  "+33899123456": "PREMIUM_RATE", // FR 089
  "+33810123456": "SHARED_COST", // FR 081
  "+611900123456": "PREMIUM_RATE", // AU 1900
  "+34803123456": "PREMIUM_RATE", // ES 803
} as const;

function smsMessage(to: string): SmsMessage {
  return { meta: messageMeta("sms"), to, body: "Your code is 123456", segments: { encoding: "GSM-7", count: 1 } };
}

async function refusal(sender: ChannelSender<SmsMessage>, to: string): Promise<PermanentError> {
  const error = await sender.send(smsMessage(to)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${to} was sent`).toBeInstanceOf(PermanentError);
  return error as PermanentError;
}

describe("the SMS sender refuses destinations before Twilio sees a request", () => {
  let peer: TwilioPeer;
  const senders: ChannelSender<SmsMessage>[] = [];

  beforeAll(async () => {
    peer = await startTwilioPeer();
  });
  afterEach(() => peer.reset());
  afterAll(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await peer?.stop();
  });

  /** A sender built the way every runtime builds it: from its config keys. */
  function senderFrom(extra: Record<string, string>): ChannelSender<SmsMessage> {
    const config = sms.readConfig({
      TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef",
      TWILIO_AUTH_TOKEN: "0123456789abcdef0123456789abcdef",
      HERALD_SMS_FROM: "+14155550100",
      HERALD_TWILIO_API_BASE: peer.baseUrl,
      ...extra,
    });
    const sender = sms.createSender(config, { logger: silent });
    senders.push(sender);
    return sender;
  }

  it("HERALD_SMS_ALLOWED_COUNTRIES=US,GB: every other country is refused, including ones sharing +1 or +44", async () => {
    const sender = senderFrom({ HERALD_SMS_ALLOWED_COUNTRIES: "us, GB" });
    for (const [to, country] of Object.entries(OUTSIDE_US_GB)) {
      expect(parsePhoneNumberFromString(to)?.country, to).toBe(country);
      const error = await refusal(sender, to);
      expect(error.code, to).toBe("country-not-allowed");
      expect(error.message, to).toContain(country);
      // Not the recipient's fault: the address is not suppressed for other senders.
      expect(error.suppress, to).toBeUndefined();
    }
    expect(peer.requests).toEqual([]);
    // The same sender does send inside the allowlist (the refusals were not vacuous).
    await sender.send(smsMessage("+14155552671"));
    await sender.send(smsMessage("+447400123456"));
    expect(peer.requests.map((r) => r.form.To)).toEqual(["+14155552671", "+447400123456"]);
  });

  it("a possible number whose country cannot be determined is refused when an allowlist is set", async () => {
    const sender = senderFrom({ HERALD_SMS_ALLOWED_COUNTRIES: "US" });
    // +1 900 123 4567: possible by length, invalid (exchange 123), so no country.
    const error = await refusal(sender, "+19001234567");
    expect(error.code).toBe("country-not-allowed");
    expect(peer.requests).toEqual([]);
  });

  it.each([
    ["with no allowlist", {}],
    ["even when their country is allowed", { HERALD_SMS_ALLOWED_COUNTRIES: "US,GB,DE,FR,AU,ES" }],
  ])("premium-rate and shared-cost numbers are refused %s", async (_label, extra) => {
    const sender = senderFrom(extra);
    for (const [to, type] of Object.entries(PREMIUM)) {
      expect(parsePhoneNumberFromString(to)?.getType(), to).toBe(type);
      const error = await refusal(sender, to);
      expect(error.code, to).toBe("premium-rate-refused");
    }
    expect(peer.requests).toEqual([]);
  });
});

describe("the local runtime applies the same refusals end to end", () => {
  let runtime: TestRuntime;

  beforeAll(async () => {
    runtime = await startTestRuntime({ HERALD_SMS_ALLOWED_COUNTRIES: "US" });
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  async function publishSms(phone: string): Promise<{ status: string; reason: string }> {
    const { id, source, event } = testNotification("/security/sms", { contacts: { phone }, message: "Your code is 123456" });
    const response = await runtime.post("/v1/events", event);
    expect(response.status).toBe(202);
    return waitFor(async () => {
      const { outcomes } = await runtime.get(`/v1/outcomes?source=${encodeURIComponent(source)}&id=${id}`);
      return (outcomes as Array<{ channel: string; status: string; reason: string }>).find((o) => o.channel === "sms" && o.status !== "accepted");
    }, 10_000, `the SMS outcome for ${phone}`);
  }

  it("a number outside the allowlist and a premium-rate number fail; only the allowed one reaches the Twilio sink", async () => {
    expect(await publishSms("+447400123456")).toMatchObject({ status: "failed", reason: "country-not-allowed" });
    expect(await publishSms("+19009999999")).toMatchObject({ status: "failed", reason: "premium-rate-refused" });
    expect(await publishSms("+14155552671")).toMatchObject({ status: "sent" });
    const { deliveries } = await runtime.get("/v1/deliveries?channel=sms");
    expect((deliveries as Array<{ address: string }>).map((d) => d.address)).toEqual(["+14155552671"]);
  });
});
