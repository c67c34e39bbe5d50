/**
 * Deliveries: what the local sinks received, per channel. E-mail HTML is shown in a
 * sandboxed frame (no scripts, no same origin, its own CSP that fetches nothing); push
 * payloads as decrypted JSON; SMS text with its segment count and encoding.
 */
import { useState } from "preact/hooks";
import type { InboxEntry } from "../../handlers/runtime/local/inbox";
import type { EmailSinkContent, PushSinkContent, SmsSinkContent } from "../../handlers/runtime/local/sinks/types";
import { useApi, useLiveTick, type Status } from "./api";
import { Facts } from "./facts";
import { pretty, time } from "./format";

const CHANNELS = ["email", "push", "sms"] as const;

export function DeliveriesPage({ params }: { params: URLSearchParams }) {
  const [channel, setChannel] = useState<string>(params.get("channel") ?? "email");
  const tick = useLiveTick(["delivered"]);
  const { data: status } = useApi<Status>("v1/status", tick);
  const { data, error } = useApi<{ deliveries: InboxEntry[] }>(`v1/deliveries?${new URLSearchParams({ channel, limit: "50" })}`, tick);
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const deliveries = data?.deliveries ?? [];
  const shown = deliveries.find((d) => d.id === selected) ?? deliveries[0];
  return (
    <div class="page deliveries">
      <h1>Deliveries</h1>
      <div class="tabs" role="group" aria-label="Channel">
        {CHANNELS.map((name) => (
          <button type="button" aria-pressed={name === channel} id={`tab-${name}`} onClick={() => (setChannel(name), setSelected(undefined))}>
            {name} <span class="count">{status?.inbox[name] ?? 0}</span>
          </button>
        ))}
      </div>
      {error && <p class="message error">{error}</p>}
      {deliveries.length === 0 ? (
        <p class="empty" id="inbox-empty">
          Nothing received on {channel} yet. Publish an event on the Events page.
        </p>
      ) : (
        <div class="split">
          <ul class="list" id="inbox" aria-label={`${channel} inbox, newest first`}>
            {deliveries.map((d) => (
              <li>
                <button type="button" class={d === shown ? "item selected" : "item"} aria-pressed={d === shown} onClick={() => setSelected(d.id)}>
                  <span class="summary">{d.summary || "(no summary)"}</span>
                  <span class="hint">
                    {d.address} · {time(d.receivedAt)}
                  </span>
                </button>
              </li>
            ))}
          </ul>
          {shown && <Delivery entry={shown} />}
        </div>
      )}
    </div>
  );
}

function Delivery({ entry }: { entry: InboxEntry }) {
  if (entry.channel === "email") {
    const mail = entry.content as unknown as EmailSinkContent;
    return (
      <article class="detail" aria-label="e-mail">
        <Facts
          rows={[
            ["subject", mail.subject],
            ["from", mail.from],
            ["to", mail.envelope.to.join(", ")],
            ...Object.entries(mail.headers).map(([name, value]) => [name, <code>{value.length > 160 ? `${value.slice(0, 160)}…` : value}</code>] as const),
          ]}
        />
        {/* sandbox="": no scripts, no forms, an opaque origin; the frame's own CSP fetches nothing. */}
        <iframe class="mail" title={`e-mail: ${mail.subject}`} sandbox="" src={`/console/mail/${entry.id}`} referrerpolicy="no-referrer" />
        {mail.text && (
          <details>
            <summary>Plain-text part</summary>
            <pre>{mail.text}</pre>
          </details>
        )}
      </article>
    );
  }
  if (entry.channel === "push") {
    const push = entry.content as unknown as PushSinkContent;
    return (
      <article class="detail" aria-label="push message">
        <Facts
          rows={[
            ["endpoint", entry.address],
            ["TTL", `${push.ttl} s`],
            ["urgency", push.urgency],
            ["topic", push.topic ?? "-"],
            ["encrypted size", `${push.encryptedBytes} bytes (aes128gcm)`],
            ["VAPID", `sub ${push.vapid.sub}, aud ${push.vapid.aud}`],
          ]}
        />
        <h3>Payload (decrypted)</h3>
        <pre class="payload">{pretty(push.payload)}</pre>
      </article>
    );
  }
  const sms = entry.content as unknown as SmsSinkContent;
  return (
    <article class="detail" aria-label="SMS">
      <Facts
        rows={[
          ["to", sms.to],
          ["from", sms.from ?? sms.messagingServiceSid ?? "-"],
          ["segments", `${sms.numSegments} segment${sms.numSegments === 1 ? "" : "s"} (${sms.encoding}, ${[...sms.body].length} characters)`],
          [
            "SID",
            <>
              <code>{sms.sid}</code> · {sms.status}
            </>,
          ],
        ]}
      />
      <pre class="sms">{sms.body}</pre>
    </article>
  );
}
