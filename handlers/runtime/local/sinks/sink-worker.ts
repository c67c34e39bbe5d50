/**
 * Runs the local delivery sinks (SMTP, Web Push, Twilio) in a worker thread, so the
 * provider end of every send runs on a second core instead of the runtime's event loop.
 * The sinks listen on 127.0.0.1 exactly as the in-process ones do; the channel modules
 * reach them over the real protocols. Each delivery comes back to `onDelivery` on this
 * thread, and the sink acknowledges the message only after `onDelivery` returned (or its
 * promise resolved); if it throws, the sink answers with a transient failure.
 *
 * Control calls (failNext, createSubscription, ...) are request/response messages: their
 * promises resolve once the worker applied them.
 *
 * The worker is a thread of this process: SIGKILL takes it down with the process.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { PushSubscriptionJson } from "../../../core/recipients";
import type { FromSinkHost, SinkControl, SinkHostInfo, SinkHostOptions, ToSinkHost } from "./sink-host";
import type { SmtpFailureCode } from "./smtp-sink";
import type { DeliverySink } from "./types";

export interface SinkWorkerOptions {
  /** The application server key push subscriptions are made for. */
  readonly vapidPublicKey: string;
  /** Start the SMTP sink (false when a real SMTP relay is configured). */
  readonly smtp: boolean;
  /** Start the Twilio sink (false when real Twilio credentials are configured). */
  readonly twilio: boolean;
  /** Receives each delivery on this thread. */
  readonly onDelivery: DeliverySink;
  /** A sink's socket error, or the worker dying; the sinks are unreachable after the latter. */
  readonly onError?: (error: Error) => void;
}

export interface WorkerSmtpSink {
  /** `smtp://user:password@127.0.0.1:PORT`. */
  readonly url: string;
  failNext(code: SmtpFailureCode, count?: number): Promise<void>;
}

export interface WorkerPushSink {
  readonly origin: string;
  createSubscription(): Promise<PushSubscriptionJson>;
  expire(endpoint: string): Promise<void>;
}

export interface WorkerTwilioSink {
  readonly apiBase: string;
  readonly accountSid: string;
  readonly authToken: string;
  failNext(code: number, status: number, count?: number): Promise<void>;
  setLatency(ms: number): Promise<void>;
  peakConcurrent(): Promise<number>;
}

export interface WorkerSinks {
  readonly smtp?: WorkerSmtpSink;
  readonly push: WorkerPushSink;
  readonly twilio?: WorkerTwilioSink;
  /** Closes the sinks and terminates the worker. */
  close(): Promise<void>;
}

/**
 * The channel settings that point the shipped channel modules at these sinks (for
 * benchmarks and tests that wire senders by hand; the runtime merges its own).
 */
export function sinkChannelEnv(sinks: WorkerSinks, vapid: { readonly publicKey: string; readonly privateKey: string }): Record<string, string> {
  if (!sinks.smtp || !sinks.twilio) throw new Error("sinkChannelEnv needs the SMTP and Twilio sinks running");
  return {
    HERALD_SMTP_URL: sinks.smtp.url,
    HERALD_EMAIL_FROM: "herald <herald@example.com>",
    HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
    HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
    HERALD_VAPID_SUBJECT: "mailto:herald@example.com",
    HERALD_PUSH_ALLOW_HOSTS: new URL(sinks.push.origin).host,
    TWILIO_ACCOUNT_SID: sinks.twilio.accountSid,
    TWILIO_AUTH_TOKEN: sinks.twilio.authToken,
    HERALD_TWILIO_API_BASE: sinks.twilio.apiBase,
    HERALD_SMS_FROM: "+15005550006",
  };
}

/** The .js bootstrap registers tsx in the worker, then loads `entry`. */
const BOOTSTRAP = join(__dirname, "..", "thread-bootstrap.js");
const ENTRY = join(__dirname, "sink-host.ts");

/** Starts the sinks in a worker thread; resolves once they all listen. */
export async function startSinksInWorker(options: SinkWorkerOptions): Promise<WorkerSinks> {
  const hostOptions: SinkHostOptions = { vapidPublicKey: options.vapidPublicKey, smtp: options.smtp, twilio: options.twilio };
  const worker = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY, options: hostOptions }, stdout: false, stderr: false });
  const post = (message: ToSinkHost) => worker.postMessage(message);

  const replies = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let exited: Error | undefined;
  let ready: ((info: SinkHostInfo) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;

  const recorded = (id: number, error?: unknown) => {
    if (exited) return;
    post(error === undefined ? { type: "recorded", id } : { type: "recorded", id, error: (error as Error)?.message ?? String(error) });
  };

  worker.on("message", (message: FromSinkHost) => {
    switch (message.type) {
      case "ready":
        ready?.(message.info);
        return;
      case "failed":
        failed?.(new Error(`local sinks did not start: ${message.error}`));
        return;
      case "sink-error":
        options.onError?.(new Error(message.error));
        return;
      case "delivery": {
        let result: unknown;
        try {
          result = options.onDelivery(message.delivery);
        } catch (error) {
          return recorded(message.id, error ?? new Error("onDelivery failed"));
        }
        if (result instanceof Promise) {
          result.then(() => recorded(message.id), (error: unknown) => recorded(message.id, error ?? new Error("onDelivery failed")));
        } else {
          recorded(message.id);
        }
        return;
      }
      case "reply": {
        const waiter = replies.get(message.id);
        if (!waiter) return;
        replies.delete(message.id);
        if (message.ok) waiter.resolve(message.value);
        else waiter.reject(new Error(message.error));
        return;
      }
    }
  });
  worker.on("error", (error) => {
    exited ??= error;
    failed?.(error);
    options.onError?.(error);
  });
  worker.on("exit", (code) => {
    exited ??= new Error(`local sink worker exited with code ${code}`);
    failed?.(exited);
    for (const waiter of replies.values()) waiter.reject(exited);
    replies.clear();
  });

  let info: SinkHostInfo;
  try {
    info = await new Promise<SinkHostInfo>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  } finally {
    ready = undefined;
    failed = undefined;
  }

  function request<T>(control: SinkControl): Promise<T> {
    if (exited) return Promise.reject(exited);
    const id = ++nextId;
    return new Promise<T>((resolve, reject) => {
      replies.set(id, { resolve: resolve as (value: unknown) => void, reject });
      post({ type: "control", id, control });
    });
  }

  let closing: Promise<void> | undefined;
  return {
    ...(info.smtp
      ? {
          smtp: {
            url: info.smtp.url,
            failNext: (code: SmtpFailureCode, count = 1) => request<void>({ op: "smtp.failNext", code, count }),
          },
        }
      : {}),
    push: {
      origin: info.push.origin,
      createSubscription: () => request<PushSubscriptionJson>({ op: "push.createSubscription" }),
      expire: (endpoint: string) => request<void>({ op: "push.expire", endpoint }),
    },
    ...(info.twilio
      ? {
          twilio: {
            apiBase: info.twilio.apiBase,
            accountSid: info.twilio.accountSid,
            authToken: info.twilio.authToken,
            failNext: (code: number, status: number, count = 1) => request<void>({ op: "twilio.failNext", code, status, count }),
            setLatency: (ms: number) => request<void>({ op: "twilio.setLatency", ms }),
            peakConcurrent: () => request<number>({ op: "twilio.peakConcurrent" }),
          },
        }
      : {}),
    close() {
      closing ??= (async () => {
        await request<void>({ op: "close" }).catch(() => undefined);
        await worker.terminate();
      })();
      return closing;
    },
  };
}
