/**
 * What `herald publish` and `herald dlq list|show|redrive` promise on every target, run
 * against each one by its own test file with a harness that knows where the target keeps
 * things: local SQLite, AWS on moto_server, GCP on the Pub/Sub emulator, Azure on the
 * in-process Service Bus fake. The same expectations everywhere: ids and counts, the
 * JSON fields every target prints (`id`, `queue`, `body`), exit codes, and that a
 * redriven dead letter is consumed again.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export interface CliTargetHarness {
  /** `herald publish <file> --json` against this target. */
  publish(file: string): Promise<CliResult>;
  /** Ids of the events that reached the entry topic since the last call (waiting for `expected` where delivery is asynchronous). */
  publishedIds(expected: number): Promise<string[]>;
  /** Makes `count` dead letters on the sms channel as the target itself would; their ids as `dlq list` prints them. */
  seedDeadLetters(count: number): Promise<string[]>;
  /** `herald dlq <args>` for the sms channel on this target. */
  dlq(...args: string[]): Promise<CliResult>;
  /** Waits until `count` redriven messages are back with their consumer; how many came. */
  redriven(count: number): Promise<number>;
}

const EXAMPLE = "schemas/events/herald.test_notification/examples/v1-email-and-sms.json";

/** A file of `count` copies of the shipped example with fresh ids, for `publish`. */
export function exampleEvents(count: number, prefix: string): Array<Record<string, unknown>> {
  const example = JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
  return Array.from({ length: count }, (_, i) => ({ ...example, id: `${prefix}-${i}` }));
}

/**
 * Declares the conformance tests (inside the caller's `describe`, after its setup).
 * `harness` is called in each test, once the caller's beforeAll/beforeEach have run.
 * `writeEvents` writes a publish file and returns its path.
 */
export function itConformsAsCliTarget(name: string, harness: () => CliTargetHarness, writeEvents: (events: unknown[]) => string): void {
  it(`[conformance ${name}] publish: every event reaches the entry topic once, named in --json in input order`, async () => {
    const h = harness();
    const events = exampleEvents(3, `conformance-${name}-${Date.now()}`);
    const result = await h.publish(writeEvents(events));
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.out) as { accepted: Array<{ id: string }> };
    expect(printed.accepted.map((a) => a.id)).toEqual(events.map((e) => e.id));
    expect((await h.publishedIds(3)).sort()).toEqual(events.map((e) => String(e.id)).sort());
  });

  it(`[conformance ${name}] dlq: list and show without taking, redrive one then the rest, refuse an unknown id`, async () => {
    const h = harness();
    const ids = await h.seedDeadLetters(3);
    expect(ids).toHaveLength(3);

    const listed = JSON.parse((await h.dlq("list", "--json")).out) as Array<{ id: unknown; queue: string; body: unknown }>;
    expect(listed.map((d) => String(d.id)).sort()).toEqual([...ids].sort());
    for (const letter of listed) {
      expect(letter.queue).toBe("sms");
      expect(letter.body).toBeDefined();
    }
    const shown = await h.dlq("show", ids[0]!);
    expect(shown.code).toBe(0);
    expect(String((JSON.parse(shown.out) as { id: unknown }).id)).toBe(ids[0]);
    // Listing and showing took nothing.
    expect(JSON.parse((await h.dlq("list", "--json")).out)).toHaveLength(3);

    const one = await h.dlq("redrive", "--id", ids[1]!, "--json");
    expect(one.code).toBe(0);
    expect(JSON.parse(one.out)).toEqual({ redriven: 1 });
    expect(await h.redriven(1)).toBe(1);
    const left = (JSON.parse((await h.dlq("list", "--json")).out) as Array<{ id: unknown }>).map((d) => String(d.id)).sort();
    expect(left).toEqual([ids[0]!, ids[2]!].sort());

    const unknown = await h.dlq("redrive", "--id", "999999999", "--json");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("not in the DLQ: 999999999");

    const rest = await h.dlq("redrive", "--json");
    expect(rest.code).toBe(0);
    expect(JSON.parse(rest.out)).toEqual({ redriven: 2 });
    expect(await h.redriven(2)).toBe(2);
    expect(JSON.parse((await h.dlq("list", "--json")).out)).toEqual([]);
  });
}
