/**
 * Cloud Functions (gen2, Node.js) entry points: the Functions Framework, which the
 * runtime's buildpack adds when the package names none, calls an exported `(req, res)`
 * with Express objects and the JSON body parsed. The herald handlers are framework-free
 * (`{ body, headers } -> { status, body, headers }`); this is the thin adapter.
 */
import type { PushHandler, PushRequest } from "./push-envelope";

/** The slice of Express's request the handlers read. */
export interface HttpRequest {
  readonly method: string;
  readonly body: unknown;
  readonly headers: PushRequest["headers"];
  /** Path and query as received, e.g. `/?r=...&s=...`. */
  readonly originalUrl?: string;
  readonly url?: string;
}

/** The slice of Express's response the adapter writes. */
export interface HttpResponse {
  status(code: number): HttpResponse;
  set(field: string, value: string): HttpResponse;
  send(body?: string): unknown;
}

export type HttpFunction = (req: HttpRequest, res: HttpResponse) => Promise<void>;

/** An HTTP function answering with `handler`, which is built on the first request (so a config error fails that request, naming the variable). */
export function httpFunction(build: () => PushHandler): HttpFunction {
  let handler: PushHandler | undefined;
  return async (req, res) => {
    let answer;
    try {
      handler ??= build();
      answer = await handler({ body: req.body, headers: req.headers });
    } catch (error) {
      // Not acknowledged: Pub/Sub delivers it again and, in the end, dead-letters it.
      console.error(JSON.stringify({ severity: "ERROR", message: "handler failed", error: (error as Error)?.message ?? String(error) }));
      answer = { status: 500, body: "handler failed" };
    }
    res.status(answer.status);
    for (const [field, value] of Object.entries(answer.headers ?? {})) res.set(field, value);
    res.send(answer.body ?? "");
  };
}
