/**
 * Recipient policies applied during rules evaluation: opt-outs, quiet hours and
 * frequency caps. Pure functions of their inputs (the cap counter is a port).
 */
import type { OptOut, QuietHours } from "./recipients";

/** Per-channel cap: at most `limit` messages per recipient in any `windowSeconds`. */
export interface FrequencyCap {
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface PolicyConfig {
  readonly frequencyCaps?: Readonly<Record<string, FrequencyCap>>;
  /** Zone for recipients without one. */
  readonly defaultTimeZone?: string;
}

/**
 * Counts messages per scope in a sliding window. `key` makes it idempotent: counting the
 * same message again (a redelivered event) does not use up the recipient's allowance.
 */
export interface FrequencyLimiter {
  /** True when the message may go (and is now counted); false when the cap is reached. */
  acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean>;
}

/** Does the recipient refuse this category on this channel? `*` matches anything. */
export function isOptedOut(optOuts: readonly OptOut[] | undefined, category: string, channel: string): boolean {
  if (!optOuts) return false;
  for (const optOut of optOuts) {
    if ((optOut.category === "*" || optOut.category === category) && (optOut.channel === "*" || optOut.channel === channel)) {
      return true;
    }
  }
  return false;
}

const CLOCK = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;

/** Minutes after midnight of "HH:MM"; undefined when malformed. */
export function parseClock(clock: string): number | undefined {
  const match = CLOCK.exec(clock);
  return match ? Number(match[1]) * 60 + Number(match[2]) : undefined;
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    zoneFormatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Formatter creation costs tens of microseconds; one per zone, reused. */
function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Wall-clock reading of `instantMs` in `timeZone`, and that zone's UTC offset then. */
function wallClock(instantMs: number, timeZone: string): { minuteOfDay: number; second: number; offsetMs: number } {
  const parts: Record<string, number> = {};
  for (const part of zoneFormatter(timeZone).formatToParts(instantMs)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return { minuteOfDay: parts.hour! * 60 + parts.minute!, second: parts.second!, offsetMs: asUtc - Math.floor(instantMs / 1000) * 1000 };
}

/**
 * When quiet hours hold at `nowMs`, the instant they end (delivery is deferred to it);
 * otherwise undefined. The window is local time in the recipient's zone and may wrap
 * midnight ("22:00"–"07:00"). Across a DST change the end is corrected by the offset
 * difference, so "07:00" stays 07:00 local.
 */
export function quietHoursEnd(quietHours: QuietHours | undefined, timeZone: string, nowMs: number): number | undefined {
  if (!quietHours) return undefined;
  const start = parseClock(quietHours.start);
  const end = parseClock(quietHours.end);
  if (start === undefined || end === undefined || start === end) return undefined;
  const zone = isValidTimeZone(timeZone) ? timeZone : "UTC";
  const now = wallClock(nowMs, zone);
  const inside = start < end ? now.minuteOfDay >= start && now.minuteOfDay < end : now.minuteOfDay >= start || now.minuteOfDay < end;
  if (!inside) return undefined;
  const minutesLeft = (end - now.minuteOfDay + 1440) % 1440;
  const naive = nowMs - now.second * 1000 - (nowMs % 1000) + minutesLeft * 60_000;
  const shift = wallClock(naive, zone).offsetMs - now.offsetMs;
  return naive - shift;
}

/** In-memory `FrequencyLimiter` (tests, benchmarks, single process). */
export class InMemoryFrequencyLimiter implements FrequencyLimiter {
  private readonly windows = new Map<string, Map<string, number>>();

  async acquire(scope: string, key: string, cap: FrequencyCap, nowMs: number): Promise<boolean> {
    let window = this.windows.get(scope);
    if (!window) {
      window = new Map();
      this.windows.set(scope, window);
    }
    const horizon = nowMs - cap.windowSeconds * 1000;
    for (const [counted, at] of window) if (at <= horizon) window.delete(counted);
    if (window.has(key)) return true;
    if (window.size >= cap.limit) return false;
    window.set(key, nowMs);
    return true;
  }
}
