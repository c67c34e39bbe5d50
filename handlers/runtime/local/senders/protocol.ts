/**
 * What the runtime and its sender thread say to each other (see sender-thread.ts), and
 * how a delivery error crosses the thread boundary: structured clone keeps an Error's
 * message but not its class, and the delivery stage branches on the class.
 */
import { ConfigError, PermanentError, TransientError, type DeliveryError, type SuppressionReason } from "../../../core/errors";
import type { ChannelMessage, ConfigSource, SendResult } from "../../../core/ports";

/** What the parent passes as `workerData.options`. */
export interface SenderHostOptions {
  /** Registered channels to create senders for, by name. */
  readonly channels: readonly string[];
  /** The environment the channel modules read their config from (the runtime's, with the sinks filled in). */
  readonly env: ConfigSource;
  /** Forward debug lines too (otherwise only info and above cross the thread). */
  readonly debug: boolean;
}

export interface SerializedDeliveryError {
  readonly kind: "permanent" | "config" | "transient";
  readonly code: string;
  readonly message: string;
  readonly suppress?: SuppressionReason;
  readonly retryAfterMs?: number;
}

/** Parent to worker. */
export type ToSenderHost =
  | { readonly type: "send"; readonly id: number; readonly channel: string; readonly message: ChannelMessage }
  | { readonly type: "abort"; readonly id: number; readonly reason: SerializedDeliveryError }
  | { readonly type: "close" };

/** Worker to parent. */
export type FromSenderHost =
  | { readonly type: "ready"; readonly unconfigured: Readonly<Record<string, SerializedDeliveryError>> }
  | { readonly type: "sent"; readonly id: number; readonly result: SendResult }
  | { readonly type: "failed"; readonly id: number; readonly error: SerializedDeliveryError }
  | { readonly type: "log"; readonly level: "debug" | "info" | "warn" | "error"; readonly fields: Record<string, unknown>; readonly message: string }
  | { readonly type: "closed" };

export function serializeDeliveryError(error: DeliveryError): SerializedDeliveryError {
  const base = { code: error.code, message: error.message };
  if (error instanceof PermanentError) return { kind: "permanent", ...base, ...(error.suppress ? { suppress: error.suppress } : {}) };
  if (error instanceof ConfigError) return { kind: "config", ...base };
  return { kind: "transient", ...base, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) };
}

export function deserializeDeliveryError(error: SerializedDeliveryError): DeliveryError {
  switch (error.kind) {
    case "permanent":
      return new PermanentError(error.code, error.message, error.suppress ? { suppress: error.suppress } : {});
    case "config":
      return new ConfigError(error.code, error.message);
    case "transient":
      return new TransientError(error.code, error.message, error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {});
  }
}
