/**
 * Structured logs for the local runtime: JSON lines (pino) with personal data masked
 * before it is written, and the event id as the correlation id on every line about it.
 */
import pino from "pino";
import { maskFields } from "../../core/masking";
import type { Logger } from "../../core/ports";


/** A pino logger behind the core `Logger` port, masking every line's fields. */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger & { child(bindings: Record<string, unknown>): Logger } {
  const base = pino(
    { level: options.level ?? process.env.HERALD_LOG_LEVEL ?? "info", base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ fd: 1, sync: false }),
  );
  return wrap(base);
}

function wrap(target: pino.Logger): Logger & { child(bindings: Record<string, unknown>): Logger } {
  const log = (level: "debug" | "info" | "warn" | "error") => (fields: Record<string, unknown>, message: string) =>
    target[level](maskFields(fields) as Record<string, unknown>, message);
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (bindings) => wrap(target.child(maskFields(bindings) as Record<string, unknown>)),
  };
}
