/**
 * Structured logs on Azure Functions: each stdout line becomes a trace in Application
 * Insights, whose `customDimensions` keep a JSON line's fields queryable in KQL
 * (`{"time","level","message",...}`; see ../shared/json-logger.ts).
 */
import { createLineLogger, type JsonLogger, type JsonLoggerOptions } from "../shared/json-logger";

export { errorText, type JsonLogger, type JsonLoggerOptions } from "../shared/json-logger";

export function createJsonLogger(options: JsonLoggerOptions = {}): JsonLogger {
  return createLineLogger((level, message) => ({ time: new Date().toISOString(), level, message }), options);
}
