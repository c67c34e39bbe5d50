/**
 * Runs the registered channels' senders in a worker thread and hands the runtime a
 * `ChannelSender` per channel that forwards each send there. The runtime's thread keeps
 * everything that touches the store (claims, completions, queues), so the idempotency
 * and settlement logic is exactly the in-process one; only the provider I/O moves.
 *
 * The worker is a thread of this process: SIGKILL takes it down with the process, and a
 * send it had in flight is redelivered like any other unfinished one.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { isDeliveryError, TransientError } from "../../../core/errors";
import type { ChannelMessage, ChannelSender, ConfigSource, Logger, SendResult } from "../../../core/ports";
import {
  deserializeDeliveryError,
  serializeDeliveryError,
  type FromSenderHost,
  type SenderHostOptions,
  type SerializedDeliveryError,
  type ToSenderHost,
} from "./protocol";

const BOOTSTRAP = join(__dirname, "..", "thread-bootstrap.js");
const ENTRY = join(__dirname, "sender-host.ts");

export interface SenderThread {
  readonly senders: ReadonlyMap<string, ChannelSender>;
  /** Channels whose config the channel module refused, with its error (their sends fail with it). */
  readonly unconfigured: ReadonlyMap<string, Error>;
  /** Closes every sender's connections and ends the thread. */
  close(): Promise<void>;
}

export async function startSendersInWorker(options: {
  readonly channels: readonly string[];
  readonly env: ConfigSource;
  readonly logger: Logger;
  readonly debug?: boolean;
}): Promise<SenderThread> {
  // The env holds provider secrets; workerData stays inside this process.
  const hostOptions: SenderHostOptions = { channels: options.channels, env: { ...options.env }, debug: options.debug ?? false };
  const worker = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY, options: hostOptions }, stdout: false, stderr: false });
  const post = (message: ToSenderHost) => worker.postMessage(message);
  const pending = new Map<number, { resolve: (result: SendResult) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let exited: Error | undefined;
  let onReady: ((unconfigured: Readonly<Record<string, SerializedDeliveryError>>) => void) | undefined;
  let onClosed: (() => void) | undefined;

  worker.on("message", (message: FromSenderHost) => {
    switch (message.type) {
      case "ready":
        onReady?.(message.unconfigured);
        return;
      case "sent":
      case "failed": {
        const waiter = pending.get(message.id);
        if (!waiter) return;
        pending.delete(message.id);
        if (message.type === "sent") waiter.resolve(message.result);
        else waiter.reject(deserializeDeliveryError(message.error));
        return;
      }
      case "log":
        options.logger[message.level](message.fields, message.message);
        return;
      case "closed":
        onClosed?.();
        return;
    }
  });
  const fail = (error: Error) => {
    exited ??= error;
    // Nothing was recorded for these sends; the delivery stage retries them.
    for (const waiter of pending.values()) waiter.reject(new TransientError("sender-thread-exited", exited.message, { cause: exited }));
    pending.clear();
    onClosed?.();
  };
  worker.on("error", (error) => {
    options.logger.error({ error: error.message }, "sender thread failed");
    fail(error);
  });
  worker.on("exit", (code) => fail(new Error(`sender thread exited with code ${code}`)));

  const unconfiguredList = await new Promise<Readonly<Record<string, SerializedDeliveryError>>>((resolve, reject) => {
    onReady = resolve;
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`sender thread exited with code ${code} before it was ready`)));
  });
  onReady = undefined;
  const unconfigured = new Map(Object.entries(unconfiguredList).map(([channel, error]) => [channel, deserializeDeliveryError(error)]));

  function send(channel: string, message: ChannelMessage, signal?: AbortSignal): Promise<SendResult> {
    if (exited) return Promise.reject(new TransientError("sender-thread-exited", exited.message));
    if (signal?.aborted) return Promise.reject(new TransientError("aborted", "send aborted before it started", { cause: signal.reason }));
    const id = ++nextId;
    return new Promise<SendResult>((resolve, reject) => {
      const onAbort = () => {
        const reason = isDeliveryError(signal!.reason) ? signal!.reason : new TransientError("aborted", "send aborted");
        post({ type: "abort", id, reason: serializeDeliveryError(reason) });
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      pending.set(id, {
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      post({ type: "send", id, channel, message });
    });
  }

  let closing: Promise<void> | undefined;
  return {
    senders: new Map(options.channels.map((channel) => [channel, { send: (message, signal) => send(channel, message, signal), close: async () => {} }])),
    unconfigured,
    close() {
      closing ??= (async () => {
        if (!exited) {
          await new Promise<void>((resolve) => {
            onClosed = resolve;
            post({ type: "close" });
          });
        }
        await worker.terminate();
      })();
      return closing;
    },
  };
}
