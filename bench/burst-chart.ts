/**
 * The burst profile as one SVG picture, written by hand (no charting dependency): every
 * publish's ingest acknowledgement latency as a point (left axis, logarithmic), the
 * offered rate and the backlog depth as lines (right axis), bursts shaded, the p95 goal,
 * the end of the last burst and the moment its backlog was drained marked.
 */
import type { BurstRun } from "./suites/burst";

export interface ChartContext {
  readonly machine: string;
  readonly node: string;
  readonly date: string;
  readonly baselineRate: number;
  readonly burstRate: number;
  readonly notificationsPerEvent: number;
}

const WIDTH = 960;
const HEIGHT = 540;
const PLOT = { left: 78, right: WIDTH - 92, top: 84, bottom: HEIGHT - 96 };
const BUCKET_MS = 100;
const GOAL_MS = 50;
const COLOURS = { latency: "#1f77b4", error: "#d62728", goal: "#d62728", rate: "#ff7f0e", backlog: "#2ca02c", burst: "#ff7f0e", grid: "#e4e4e4", text: "#222", muted: "#666" };

export function burstChart(run: BurstRun, context: ChartContext): string {
  const ok = run.publishes.filter((p) => p.status !== undefined && p.status < 300);
  const failed = run.publishes.filter((p) => p.status === undefined || p.status >= 300);
  const drained = !Number.isNaN(run.drainedAt);
  const endMs = Math.max(drained ? run.drainedAt : 0, ...run.publishes.map((p) => p.due)) + 500;
  const xStep = niceCeil(endMs / 1000 / 10, [1, 2, 5, 10]);
  const xMax = Math.ceil(endMs / 1000 / xStep) * xStep;
  const x = (ms: number) => PLOT.left + ((ms / 1000) / xMax) * (PLOT.right - PLOT.left);

  // Left axis: latency in ms, logarithmic from the decade under the fastest answer to the one over the slowest.
  const latencies = ok.map((p) => p.ackAt! - p.due).filter(Number.isFinite);
  // Under 1 ms is drawn on the bottom edge.
  const lowDecade = Math.floor(Math.log10(Math.max(1, Math.min(...latencies, GOAL_MS))));
  const highDecade = Math.ceil(Math.log10(Math.max(...latencies, GOAL_MS * 2)));
  const yLatency = (ms: number) => {
    const fraction = (Math.log10(Math.max(ms, 10 ** lowDecade)) - lowDecade) / (highDecade - lowDecade);
    return PLOT.bottom - fraction * (PLOT.bottom - PLOT.top);
  };

  // Right axis: events per second offered and events waiting in the backlog.
  const offered = offeredRate(run, endMs);
  const backlogEvents = run.backlog.map((b) => ({ t: b.t, events: b.notifications / context.notificationsPerEvent }));
  const rightMax = niceCeil(Math.max(context.burstRate, ...backlogEvents.map((b) => b.events)) * 1.08, [1, 2, 2.5, 5, 10]);
  const yRight = (value: number) => PLOT.bottom - (value / rightMax) * (PLOT.bottom - PLOT.top);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    text(WIDTH / 2, 26, `herald local runtime under ${context.burstRate / context.baselineRate}x bursts: ingest acknowledgement latency, offered rate and backlog`, { size: 16, weight: "bold", anchor: "middle" }),
    text(WIDTH / 2, 46, `${context.machine}, Node ${context.node}, ${context.date}; baseline ${context.baselineRate} events/s, ${run.bursts.length} bursts of ${context.burstRate} events/s x ${run.profile.burstMs / 1000} s, 1 event per request, ${context.notificationsPerEvent} notifications per event`, { anchor: "middle", fill: COLOURS.muted }),
    text(WIDTH / 2, 64, `this run: ack p50 ${fmt(run.p50)} ms, p95 ${fmt(run.p95)} ms (goal < ${GOAL_MS} ms: ${run.p95 < GOAL_MS ? "met" : "NOT met"}), p99 ${fmt(run.p99)} ms; ${drained ? `backlog drained ${fmt((run.drainedAt - run.lastBurstEnd) / 1000)} s after the last burst` : `backlog NOT drained within ${run.profile.drainTimeoutMs / 1000} s`}; peak RSS ${fmt(run.peakRssBytes / 2 ** 20)} MiB${failed.length ? `; ${failed.length} publishes failed` : ""}`, { anchor: "middle", fill: COLOURS.muted }),
  );

  // Bursts shaded, behind everything.
  for (const b of run.bursts) out.push(`<rect x="${r(x(b.start))}" y="${PLOT.top}" width="${r(x(b.end) - x(b.start))}" height="${PLOT.bottom - PLOT.top}" fill="${COLOURS.burst}" fill-opacity="0.12"/>`);

  // Grid and left axis (latency decades, with 2 and 5 between).
  for (let d = lowDecade; d <= highDecade; d += 1) {
    const y = yLatency(10 ** d);
    out.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${r(y)}" y2="${r(y)}" stroke="${COLOURS.grid}"/>`);
    out.push(text(PLOT.left - 8, y + 4, `${10 ** d >= 1 ? (10 ** d).toLocaleString("en-US") : (10 ** d).toString()}`, { anchor: "end" }));
    if (d < highDecade) {
      for (const m of [2, 5]) {
        const ym = yLatency(m * 10 ** d);
        out.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${r(ym)}" y2="${r(ym)}" stroke="${COLOURS.grid}" stroke-dasharray="2,3"/>`);
        out.push(text(PLOT.left - 8, ym + 4, `${m * 10 ** d >= 1 ? (m * 10 ** d).toLocaleString("en-US") : m * 10 ** d}`, { anchor: "end", fill: COLOURS.muted, size: 10 }));
      }
    }
  }
  out.push(text(22, (PLOT.top + PLOT.bottom) / 2, "ingest acknowledgement latency, ms (log scale)", { anchor: "middle", rotate: true, fill: COLOURS.latency }));

  // Right axis.
  const rightStep = niceCeil(rightMax / 5, [1, 2, 2.5, 5, 10]);
  for (let v = 0; v <= rightMax + 1e-9; v += rightStep) {
    out.push(`<line x1="${PLOT.right}" x2="${PLOT.right + 5}" y1="${r(yRight(v))}" y2="${r(yRight(v))}" stroke="${COLOURS.text}"/>`);
    out.push(text(PLOT.right + 8, yRight(v) + 4, Math.round(v).toLocaleString("en-US"), {}));
  }
  out.push(text(WIDTH - 18, (PLOT.top + PLOT.bottom) / 2, "events/s offered · events in backlog", { anchor: "middle", rotate: true }));

  // Time axis.
  for (let s = 0; s <= xMax + 1e-9; s += xStep) {
    out.push(`<line x1="${r(x(s * 1000))}" x2="${r(x(s * 1000))}" y1="${PLOT.bottom}" y2="${PLOT.bottom + 5}" stroke="${COLOURS.text}"/>`);
    out.push(text(x(s * 1000), PLOT.bottom + 18, `${s}`, { anchor: "middle" }));
  }
  out.push(text((PLOT.left + PLOT.right) / 2, PLOT.bottom + 38, "seconds since the profile started (after a warm-up at the baseline)", { anchor: "middle" }));
  out.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="${COLOURS.text}"/>`);

  // Goal, end of the last burst, drained.
  out.push(`<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${r(yLatency(GOAL_MS))}" y2="${r(yLatency(GOAL_MS))}" stroke="${COLOURS.goal}" stroke-width="1.2" stroke-dasharray="6,4"/>`);
  out.push(text(PLOT.right - 6, yLatency(GOAL_MS) - 5, `p95 goal: ${GOAL_MS} ms`, { fill: COLOURS.goal, size: 11, anchor: "end" }));
  const marks: Array<[number, string]> = [[run.lastBurstEnd, "last burst ends"]];
  if (drained) marks.push([run.drainedAt, "its backlog drained"]);
  for (const [ms, label] of marks) {
    out.push(`<line x1="${r(x(ms))}" x2="${r(x(ms))}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="${COLOURS.muted}" stroke-dasharray="3,3"/>`);
    out.push(text(x(ms) + 4, PLOT.top + 14, label, { fill: COLOURS.muted, size: 11 }));
  }

  // Offered rate (step line) and backlog (line), right axis.
  out.push(polyline(offered.flatMap((o) => [[x(o.t), yRight(o.rate)], [x(o.t + BUCKET_MS), yRight(o.rate)]]), COLOURS.rate, 1.5));
  out.push(polyline(backlogEvents.map((b) => [x(b.t), yRight(b.events)]), COLOURS.backlog, 2));

  // Every publish: acknowledged ones by latency, failed ones as crosses on the top edge.
  out.push(`<g fill="${COLOURS.latency}" fill-opacity="0.45">`);
  for (const p of ok) out.push(`<circle cx="${r(x(p.due))}" cy="${r(yLatency(p.ackAt! - p.due))}" r="1.6"/>`);
  out.push("</g>");
  if (failed.length > 0) {
    out.push(`<g stroke="${COLOURS.error}" stroke-width="1.2">`);
    for (const p of failed) {
      const cx = x(p.due);
      out.push(`<path d="M${r(cx - 3)},${PLOT.top + 2}l6,6m0,-6l-6,6"/>`);
    }
    out.push("</g>");
  }

  // Legend, under the plot, two rows.
  const items: Array<[string, string]> = [
    [`<circle cx="7" cy="-4" r="3" fill="${COLOURS.latency}" fill-opacity="0.7"/>`, "one publish: its scheduled send to its 202 (left axis)"],
    [`<line x1="0" x2="14" y1="-4" y2="-4" stroke="${COLOURS.rate}" stroke-width="2"/>`, "offered rate, events/s (right axis)"],
    [`<rect x="0" y="-10" width="14" height="12" fill="${COLOURS.burst}" fill-opacity="0.25"/>`, "burst"],
    [`<line x1="0" x2="14" y1="-4" y2="-4" stroke="${COLOURS.backlog}" stroke-width="2"/>`, "backlog: events acknowledged, not yet delivered on all channels (right axis)"],
    [`<line x1="0" x2="14" y1="-4" y2="-4" stroke="${COLOURS.goal}" stroke-width="1.2" stroke-dasharray="6,4"/>`, "p95 goal"],
  ];
  const rows = [items.slice(0, 3), items.slice(3)];
  rows.forEach((row, i) => {
    let lx = PLOT.left;
    const ly = HEIGHT - 30 + i * 18;
    for (const [mark, label] of row) {
      out.push(`<g transform="translate(${lx},${ly})">${mark}</g>`);
      out.push(text(lx + 20, ly, label, {}));
      lx += 20 + label.length * 6.3 + 26;
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** Events/s offered per bucket, from the publishes' scheduled times. */
function offeredRate(run: BurstRun, endMs: number): Array<{ t: number; rate: number }> {
  const counts = new Array<number>(Math.ceil(endMs / BUCKET_MS)).fill(0);
  for (const p of run.publishes) {
    const bucket = Math.floor(p.due / BUCKET_MS);
    if (bucket < counts.length) counts[bucket]! += 1;
  }
  return counts.map((n, i) => ({ t: i * BUCKET_MS, rate: (n * 1000) / BUCKET_MS }));
}

/** The smallest step x 10^k at or above `value`. */
function niceCeil(value: number, steps: readonly number[]): number {
  if (!(value > 0)) return 1;
  const decade = 10 ** Math.floor(Math.log10(value));
  for (const step of steps) if (step * decade >= value - 1e-9) return step * decade;
  return 10 * decade;
}

function polyline(points: ReadonlyArray<readonly [number, number] | number[]>, colour: string, width: number): string {
  return `<polyline fill="none" stroke="${colour}" stroke-width="${width}" stroke-linejoin="round" points="${points.map(([px, py]) => `${r(px!)},${r(py!)}`).join(" ")}"/>`;
}

function text(px: number, py: number, content: string, options: { size?: number; weight?: string; anchor?: "start" | "middle" | "end"; fill?: string; rotate?: boolean }): string {
  const transform = options.rotate ? ` transform="rotate(-90 ${r(px)} ${r(py)})"` : "";
  return `<text x="${r(px)}" y="${r(py)}"${options.size ? ` font-size="${options.size}"` : ""}${options.weight ? ` font-weight="${options.weight}"` : ""} text-anchor="${options.anchor ?? "start"}" fill="${options.fill ?? COLOURS.text}"${transform}>${escape(content)}</text>`;
}

function escape(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function r(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

function fmt(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(value >= 10 ? 0 : 1);
}
