/**
 * Structured logs for the cloud functions: one masked JSON object per line on stdout,
 * which each cloud's log service indexes field by field. Pino is left out of the function
 * bundles; fields are masked by the same rules as the local runtime's logger. Each cloud
 * names the level and message fields its own way (see aws/ and gcp/json-logger.ts).
 */
import { maskFields } from "../../core/masking";
import type { Logger } from "../../core/ports";

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
export type Level = Exclude<keyof typeof LEVELS, "silent">;

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

/** The cloud's shape of a line's own fields: `{ time, level, msg }` on AWS, `{ severity, message }` on GCP. */
export type LineHead = (level: Level, message: string) => Record<string, unknown>;

export function createLineLogger(head: LineHead, options: JsonLoggerOptions = {}): JsonLogger {
  const name = (options.level ?? process.env.HERALD_LOG_LEVEL ?? "info") as keyof typeof LEVELS;
  const threshold = LEVELS[name] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => console.log(line));
  const make = (bindings: Record<string, unknown>): JsonLogger => {
    const log = (level: Level) => (fields: Record<string, unknown>, message: string) => {
      if (LEVELS[level] < threshold) return;
      write(JSON.stringify({ ...head(level, message), ...(maskFields({ ...bindings, ...fields }) as Record<string, unknown>) }));
    };
    return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error"), child: (more) => make({ ...bindings, ...more }) };
  };
  return make({});
}

/**
 * An error as one log field. Only for infrastructure errors (stores, queues): a
 * provider's message may quote the recipient's address, so delivery failures are logged by code.
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
