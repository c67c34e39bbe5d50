import { describe, expect, it } from "vitest";
import { ConfigError, PermanentError, TransientError, ValidationError, isDeliveryError } from "../../handlers/core/errors";

describe("error classes", () => {
  it("carry code, cause and retryAfterMs, and are told apart by class", () => {
    const cause = new Error("socket hang up");
    const transient = new TransientError("ECONNRESET", "connection reset", { cause, retryAfterMs: 1500 });
    expect(transient).toBeInstanceOf(TransientError);
    expect(transient.retryAfterMs).toBe(1500);
    expect(transient.cause).toBe(cause);
    expect(transient.name).toBe("TransientError");
    expect(isDeliveryError(transient)).toBe(true);
    expect(isDeliveryError(new PermanentError("smtp-550", "mailbox unavailable", { suppress: "hard-bounce" }))).toBe(true);
    expect(isDeliveryError(new ConfigError("EAUTH", "bad credentials"))).toBe(true);
    expect(isDeliveryError(new ValidationError("unknown-type", "no such type"))).toBe(false);
    expect(isDeliveryError(new Error("plain"))).toBe(false);
  });
});
