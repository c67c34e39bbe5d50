/**
 * Structured logs on Lambda: one JSON object per line on stdout, which CloudWatch Logs
 * Insights indexes field by field. Pino is left out of the function bundles; the fields
 * are masked by the same rules as the local runtime's logger.
 */
import { maskFields } from "../../core/masking";
import type { Logger } from "../../core/ports";

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, "silent">;

/** The core `Logger` port, plus `child` to bind correlation fields (eventId) to every line. */
export interface JsonLogger extends Logger {
  child(bindings: Record<string, unknown>): JsonLogger;
}

export interface JsonLoggerOptions {
  /** `debug`, `info` (default: `HERALD_LOG_LEVEL`, else info), `warn`, `error` or `silent`. */
  readonly level?: string;
  /** Where a finished line goes; `console.log` by default (tests capture it). */
  readonly write?: (line: string) => void;
}

/** A logger writing masked JSON lines: `{"time","level","msg",...bindings,...fields}`. */
export function createJsonLogger(options: JsonLoggerOptions = {}): JsonLogger {
  const name = (options.level ?? process.env.HERALD_LOG_LEVEL ?? "info") as keyof typeof LEVELS;
  const threshold = LEVELS[name] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => console.log(line));
  return make(threshold, write, {});
}

function make(threshold: number, write: (line: string) => void, bindings: Record<string, unknown>): JsonLogger {
  const log = (level: Level) => (fields: Record<string, unknown>, msg: string) => {
    if (LEVELS[level] < threshold) return;
    const masked = maskFields({ ...bindings, ...fields }) as Record<string, unknown>;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...masked }));
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (more) => make(threshold, write, { ...bindings, ...more }),
  };
}

/**
 * An error as one log field. Only for infrastructure errors (DynamoDB, SQS): a provider's
 * message may quote the recipient's address, so delivery failures are logged by code.
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
