/**
 * Worker-thread entry for the local runtime's channel senders (see sender-thread.ts for
 * the parent side). nodemailer's MIME building, Web Push encryption and the twilio
 * client are most of a delivery's CPU; here they run on their own event loop while the
 * runtime's thread keeps the store, the queues and rules evaluation.
 *
 * Loaded through ../thread-bootstrap.js, which registers tsx first.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { channelRegistry } from "../../../channels";
import { ConfigError, isDeliveryError } from "../../../core/errors";
import type { ChannelAdapter, ChannelSender, Logger } from "../../../core/ports";
import { deserializeDeliveryError, serializeDeliveryError, type FromSenderHost, type SenderHostOptions, type SerializedDeliveryError, type ToSenderHost } from "./protocol";

if (!parentPort) throw new Error("sender-host.ts runs as a worker thread (start it with startSendersInWorker)");
const port: MessagePort = parentPort;
const post = (message: FromSenderHost) => port.postMessage(message);
const options = (workerData as { options: SenderHostOptions }).options;

/** Log lines go to the parent's logger, which masks personal data and writes them. */
const logger: Logger = {
  debug: (fields, message) => {
    if (options.debug) forwardLog("debug", fields, message);
  },
  info: (fields, message) => forwardLog("info", fields, message),
  warn: (fields, message) => forwardLog("warn", fields, message),
  error: (fields, message) => forwardLog("error", fields, message),
};

function forwardLog(level: "debug" | "info" | "warn" | "error", fields: Record<string, unknown>, message: string): void {
  try {
    post({ type: "log", level, fields, message });
  } catch {
    // A field structured clone cannot copy (a function, a socket): send its text instead.
    post({ type: "log", level, fields: JSON.parse(JSON.stringify(fields, (_key, value: unknown) => (typeof value === "function" ? String(value) : value))), message });
  }
}

const registry = channelRegistry();
const senders = new Map<string, { adapter: ChannelAdapter; sender: ChannelSender }>();
const unconfigured: Record<string, SerializedDeliveryError> = {};
for (const name of options.channels) {
  const adapter = registry.get(name);
  if (!adapter) {
    unconfigured[name] = { kind: "config", code: "channel-unknown", message: `no registered channel "${name}" in the sender thread` };
    continue;
  }
  try {
    senders.set(name, { adapter, sender: adapter.createSender(adapter.readConfig(options.env), { logger }) });
  } catch (error) {
    const reason = error instanceof ConfigError ? error : new ConfigError("config-invalid", (error as Error).message);
    unconfigured[name] = serializeDeliveryError(reason);
  }
}

const inFlight = new Map<number, AbortController>();

async function send(id: number, channel: string, message: Parameters<ChannelSender["send"]>[0]): Promise<void> {
  const entry = senders.get(channel);
  if (!entry) {
    post({ type: "failed", id, error: unconfigured[channel] ?? { kind: "config", code: "channel-unknown", message: `no sender for "${channel}"` } });
    return;
  }
  const controller = new AbortController();
  inFlight.set(id, controller);
  try {
    const result = await entry.sender.send(message, controller.signal);
    post({ type: "sent", id, result });
  } catch (error) {
    // Senders throw classified errors; anything else is classified here, where the
    // channel module and the raw error both are.
    post({ type: "failed", id, error: serializeDeliveryError(isDeliveryError(error) ? error : entry.adapter.classify(error)) });
  } finally {
    inFlight.delete(id);
  }
}

port.on("message", (message: ToSenderHost) => {
  switch (message.type) {
    case "send":
      void send(message.id, message.channel, message.message);
      return;
    case "abort":
      inFlight.get(message.id)?.abort(deserializeDeliveryError(message.reason));
      return;
    case "close":
      void Promise.all([...senders.values()].map(({ sender }) => sender.close().catch(() => undefined))).then(() => post({ type: "closed" }));
      return;
  }
});

post({ type: "ready", unconfigured });
