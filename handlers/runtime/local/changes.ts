/**
 * What changed in a running local runtime, for whoever watches (the console's live
 * updates). Emitting costs one check when nobody listens, so the hot path pays nothing
 * for it; a listener that throws is dropped from the call, never breaks the runtime.
 */

/** One change. Attempts carry the message's idempotency key, so a page can follow one message. */
export type RuntimeChange =
  | { readonly kind: "ingested"; readonly events: ReadonlyArray<{ readonly source: string; readonly id: string }> }
  | { readonly kind: "evaluated"; readonly eventSource: string; readonly eventId: string; readonly rules: readonly string[]; readonly messages: number }
  | {
      readonly kind: "attempt";
      readonly channel: string;
      readonly eventSource: string;
      readonly eventId: string;
      readonly idempotencyKey: string;
      readonly attempt: number;
      /** What the attempt came to: the delivery outcome, or `dead-lettered` when it used the last attempt. */
      readonly result: "sent" | "duplicate" | "failed" | "retry" | "deferred" | "busy" | "dead-lettered";
      readonly error?: string;
      readonly at: number;
    }
  | { readonly kind: "delivered"; readonly channel: string }
  | { readonly kind: "redriven"; readonly queue?: string; readonly count: number };

export type RuntimeChangeListener = (change: RuntimeChange) => void;

export class RuntimeChanges {
  private readonly listeners = new Set<RuntimeChangeListener>();

  /** True while someone listens: build a change only then. */
  get observed(): boolean {
    return this.listeners.size > 0;
  }

  /** Starts listening; call the returned function to stop. */
  on(listener: RuntimeChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: RuntimeChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A watcher's bug must not fail a delivery or an ingest.
      }
    }
  }
}
