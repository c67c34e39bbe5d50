/**
 * Structured logs on Cloud Functions: Cloud Logging lifts `severity` and `message` out of
 * a JSON line into the entry's own fields and keeps the rest as `jsonPayload`, so every
 * field is queryable (see ../shared/json-logger.ts).
 */
import { createLineLogger, type JsonLogger, type JsonLoggerOptions, type Level } from "../shared/json-logger";

export { errorText, type JsonLogger, type JsonLoggerOptions } from "../shared/json-logger";

/** Cloud Logging's names for our levels. */
const SEVERITY: Record<Level, string> = { debug: "DEBUG", info: "INFO", warn: "WARNING", error: "ERROR" };

export function createJsonLogger(options: JsonLoggerOptions = {}): JsonLogger {
  return createLineLogger((level, message) => ({ severity: SEVERITY[level], message }), options);
}
