/**
 * The process the burst benchmark measures: the local runtime started as `herald dev`
 * starts it (the same setup as the local-runtime suite's), alone in its own process so
 * the load generator does not share its event loop and its RSS is the runtime's own
 * (sender and sink threads included). Driven by its parent over IPC:
 *
 *   parent -> { kind: "stats", upTo?: prefix }    child -> { kind: "stats", sent, sentUpTo, maxRss }
 *   parent -> { kind: "stop" }                    child -> { kind: "stopped", maxRss } and exits
 *
 * `sent` counts every notification recorded as sent; `sentUpTo` only those of events
 * whose id starts with `upTo-`, so the parent can tell when a given set of events is done.
 */
import { readFileSync } from "node:fs";
import { startHerald } from "./local-runtime";

export type BurstRuntimeRequest = { readonly kind: "stats"; readonly upTo?: string } | { readonly kind: "stop" };
export type BurstRuntimeReply =
  | { readonly kind: "ready"; readonly url: string }
  | { readonly kind: "stats"; readonly sent: number; readonly sentUpTo: number; readonly maxRss: number }
  | { readonly kind: "stopped"; readonly maxRss: number };

const source = (JSON.parse(readFileSync("schemas/events/order.shipped/examples/v1-standard.json", "utf8")) as { source: string }).source;

/** Peak resident set size of this process so far, in bytes (threads included). */
const maxRss = () => process.resourceUsage().maxRSS * 1024;

async function main(): Promise<void> {
  const herald = await startHerald();
  // Ids of one prefix sort between `prefix-` and `prefix.` ('.' follows '-'), so the
  // (event_source, event_id) index answers this as a range.
  const sentInRange = herald.runtime.db.prepare<[string, string, string], { n: number }>(
    "SELECT COUNT(*) AS n FROM outcomes WHERE status = 'sent' AND event_source = ? AND event_id >= ? AND event_id < ?",
  );
  const reply = (message: BurstRuntimeReply, then?: () => void) => process.send!(message, undefined, {}, () => then?.());
  process.on("message", (request: BurstRuntimeRequest) => {
    if (request.kind === "stats") {
      const sentUpTo = request.upTo ? sentInRange.get(source, `${request.upTo}-`, `${request.upTo}.`)!.n : 0;
      reply({ kind: "stats", sent: herald.sentCount(), sentUpTo, maxRss: maxRss() });
    } else if (request.kind === "stop") {
      if (process.env.HERALD_BENCH_DEBUG) console.error(herald.runtime.db.prepare("SELECT status, reason, substr(event_id, 1, 2) AS p, COUNT(*) AS n FROM outcomes GROUP BY 1, 2, 3").all());
      void herald.stop().then(() => reply({ kind: "stopped", maxRss: maxRss() }, () => process.disconnect()));
    }
  });
  // A parent that dies must not leave a runtime behind.
  process.on("disconnect", () => process.exit(0));
  reply({ kind: "ready", url: herald.url });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
