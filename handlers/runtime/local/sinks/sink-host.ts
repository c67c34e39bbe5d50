/**
 * Worker-thread entry for the local delivery sinks (see sink-worker.ts for the parent side).
 *
 * The sinks stand in for remote providers, so they run on their own event loop: the
 * parsing, decryption and protocol work of the provider end (smtp-server + mailparser,
 * VAPID + aes128gcm, the Twilio API) no longer competes with the runtime's sends. They
 * listen on 127.0.0.1 exactly as when started in-process; each accepted delivery is posted
 * to the parent, and the sink acknowledges the message only once the parent confirmed it
 * recorded it (so a kill can never lose a delivery the sender saw accepted).
 *
 * Loaded through ../thread-bootstrap.js, which registers tsx first: worker threads do
 * not inherit the parent's TypeScript loader.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { startPushSink, type PushSink } from "./push-sink";
import { startSmtpSink, type SmtpFailureCode, type SmtpSink } from "./smtp-sink";
import { startTwilioSink, type TwilioSink } from "./twilio-sink";
import type { SinkDelivery } from "./types";

/** What the parent passes as `workerData.options`. */
export interface SinkHostOptions {
  readonly vapidPublicKey: string;
  readonly smtp: boolean;
  readonly twilio: boolean;
}

/** Where the sinks listen, sent once they all do. */
export interface SinkHostInfo {
  readonly smtp?: { readonly url: string };
  readonly push: { readonly origin: string };
  readonly twilio?: { readonly apiBase: string; readonly accountSid: string; readonly authToken: string };
}

/** Control operations the parent may request; each is answered with a reply of the same id. */
export type SinkControl =
  | { readonly op: "smtp.failNext"; readonly code: SmtpFailureCode; readonly count: number }
  | { readonly op: "push.createSubscription" }
  | { readonly op: "push.expire"; readonly endpoint: string }
  | { readonly op: "twilio.failNext"; readonly code: number; readonly status: number; readonly count: number }
  | { readonly op: "twilio.setLatency"; readonly ms: number }
  | { readonly op: "twilio.peakConcurrent" }
  | { readonly op: "close" };

/** Parent to worker. */
export type ToSinkHost =
  | { readonly type: "control"; readonly id: number; readonly control: SinkControl }
  | { readonly type: "recorded"; readonly id: number; readonly error?: string };

/** Worker to parent. */
export type FromSinkHost =
  | { readonly type: "ready"; readonly info: SinkHostInfo }
  | { readonly type: "failed"; readonly error: string }
  | { readonly type: "delivery"; readonly id: number; readonly delivery: SinkDelivery }
  | { readonly type: "reply"; readonly id: number; readonly ok: true; readonly value?: unknown }
  | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly error: string }
  | { readonly type: "sink-error"; readonly error: string };

if (!parentPort) throw new Error("sink-host.ts runs as a worker thread (start it with startSinksInWorker)");
const port: MessagePort = parentPort;
const post = (message: FromSinkHost) => port.postMessage(message);

// Deliveries waiting for the parent to confirm it recorded them.
const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
let nextDeliveryId = 0;
function forward(delivery: SinkDelivery): Promise<void> {
  const id = ++nextDeliveryId;
  return new Promise<void>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    try {
      post({ type: "delivery", id, delivery });
    } catch (error) {
      pending.delete(id);
      reject(error as Error);
    }
  });
}

async function main(options: SinkHostOptions): Promise<void> {
  let push: PushSink | undefined;
  let smtp: SmtpSink | undefined;
  let twilio: TwilioSink | undefined;
  try {
    push = await startPushSink({ port: 0, onDelivery: forward, vapidPublicKey: options.vapidPublicKey });
    smtp = options.smtp
      ? await startSmtpSink({ host: "127.0.0.1", port: 0, onDelivery: forward, onError: (error) => post({ type: "sink-error", error: error.message }) })
      : undefined;
    twilio = options.twilio ? await startTwilioSink({ port: 0, onDelivery: forward }) : undefined;
  } catch (error) {
    await Promise.all([push?.close(), smtp?.close(), twilio?.close()]);
    post({ type: "failed", error: (error as Error).message });
    return;
  }

  const sinks = { push, smtp, twilio };
  function need<K extends keyof typeof sinks>(name: K): NonNullable<(typeof sinks)[K]> {
    const sink = sinks[name];
    if (!sink) throw new Error(`the ${name} sink is not running`);
    return sink as NonNullable<(typeof sinks)[K]>;
  }

  async function control(request: SinkControl): Promise<unknown> {
    switch (request.op) {
      case "smtp.failNext":
        return need("smtp").failNext(request.code, request.count);
      case "push.createSubscription":
        return need("push").createSubscription();
      case "push.expire":
        return need("push").expire(request.endpoint);
      case "twilio.failNext":
        return need("twilio").failNext(request.code, request.status, request.count);
      case "twilio.setLatency":
        return need("twilio").setLatency(request.ms);
      case "twilio.peakConcurrent":
        return need("twilio").peakConcurrent;
      case "close":
        await Promise.all([push!.close(), smtp?.close(), twilio?.close()]);
        for (const waiter of pending.values()) waiter.reject(new Error("sinks closing"));
        pending.clear();
        return undefined;
    }
  }

  port.on("message", (message: ToSinkHost) => {
    if (message.type === "recorded") {
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (message.error === undefined) waiter.resolve();
      else waiter.reject(new Error(message.error));
      return;
    }
    control(message.control).then(
      (value) => post({ type: "reply", id: message.id, ok: true, value }),
      (error: unknown) => post({ type: "reply", id: message.id, ok: false, error: (error as Error)?.message ?? String(error) }),
    );
  });

  post({
    type: "ready",
    info: {
      push: { origin: push.origin },
      ...(smtp ? { smtp: { url: smtp.url } } : {}),
      ...(twilio ? { twilio: { apiBase: twilio.apiBase, accountSid: twilio.accountSid, authToken: twilio.authToken } } : {}),
    },
  });
}

void main((workerData as { options: SinkHostOptions }).options);
