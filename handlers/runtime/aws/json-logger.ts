/**
 * Structured logs on Lambda: `{"time","level","msg",...}` lines that CloudWatch Logs
 * Insights indexes field by field (see ../shared/json-logger.ts).
 */
import { createLineLogger, type JsonLogger, type JsonLoggerOptions } from "../shared/json-logger";

export { errorText, type JsonLogger, type JsonLoggerOptions } from "../shared/json-logger";

export function createJsonLogger(options: JsonLoggerOptions = {}): JsonLogger {
  return createLineLogger((level, msg) => ({ time: new Date().toISOString(), level, msg }), options);
}
