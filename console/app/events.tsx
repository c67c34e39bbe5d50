/**
 * Events: publish a shipped example or a pasted event, checked in the page with the same
 * code and schemas as ingest before anything is sent; and follow one event through rules,
 * messages, attempts and outcomes.
 */
import { schemas, validators } from "herald:validators";
import { useEffect, useMemo, useState } from "preact/hooks";
import { MAX_EVENT_BYTES, parseEvent } from "../../handlers/core/envelope";
import { ValidationError, type Issue } from "../../handlers/core/errors";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { api, ApiError, useApi, useLiveTick } from "./api";
import type { CatalogType, FollowedEvent } from "../server/views";
import { navigate } from "./route";
import { Facts } from "./facts";
import { formatBytes, time } from "./format";

const registry = new SchemaRegistry(schemas, { precompiled: validators });

/**
 * Text beyond this is refused as it is pasted, never put in the editor (a multi-megabyte
 * line stalls the page): four times the event limit still shows what was pasted.
 */
const MAX_PASTE_CHARS = 4 * MAX_EVENT_BYTES;

type Verdict =
  | { kind: "idle" }
  | { kind: "invalid"; title: string; message: string; issues: readonly Issue[] }
  | { kind: "valid"; message: string }
  | { kind: "sending" }
  | { kind: "sent"; message: string }
  | { kind: "refused"; message: string; issues: readonly Issue[] };

/** Checks the text as ingest would; returns the event or why it cannot be sent. */
export function checkEvent(text: string): { event: { source: string; id: string; type: string } } | { title: string; message: string; issues: readonly Issue[] } {
  if (text.trim() === "") return { title: "Nothing to send", message: "paste an event or load an example first", issues: [] };
  if (text.length > MAX_PASTE_CHARS) {
    return { title: "Too large", message: tooLarge(text.length), issues: [] };
  }
  try {
    const { event } = parseEvent(text, registry);
    return { event };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const titles: Record<string, string> = {
      "too-large": "Too large",
      "malformed-json": "Not valid JSON",
      "too-deep": "Nested too deeply",
      "invalid-envelope": "Not a CloudEvents envelope",
      "invalid-data": "Data does not match its schema",
    };
    return { title: titles[error.code] ?? `Refused (${error.code})`, message: error.message, issues: error.code === "malformed-json" || error.code === "too-large" ? [] : error.issues };
  }
}

function tooLarge(chars: number): string {
  return `the text is ${formatBytes(chars)}; an event may be at most ${formatBytes(MAX_EVENT_BYTES)} (${MAX_EVENT_BYTES} bytes)`;
}

export function EventsPage({ params }: { params: URLSearchParams }) {
  const [text, setText] = useState("");
  const [verdict, setVerdict] = useState<Verdict>({ kind: "idle" });
  const { data: catalog } = useApi<{ types: CatalogType[] }>("catalog", 0);
  const examples = useMemo(() => (catalog?.types ?? []).flatMap((t) => t.examples.map((example) => ({ label: `${t.type} · ${example.file}`, event: example.event }))), [catalog]);
  const following = params.get("source") && params.get("id") ? { source: params.get("source")!, id: params.get("id")! } : undefined;

  useEffect(() => {
    // The Schemas page's "Publish this example" arrives here with the example in session storage.
    const handed = sessionStorage.getItem("herald-console-example");
    if (handed) {
      sessionStorage.removeItem("herald-console-example");
      load(JSON.parse(handed));
    }
  }, []);

  function load(event: unknown) {
    // A fresh id and time, so publishing an example twice is two events, not a duplicate.
    const fresh = { ...(event as object), id: crypto.randomUUID(), time: new Date().toISOString() };
    setText(JSON.stringify(fresh, null, 2));
    setVerdict({ kind: "idle" });
  }

  function validate(): ReturnType<typeof checkEvent> {
    const result = checkEvent(text);
    if ("event" in result) setVerdict({ kind: "valid", message: `valid ${result.event.type} event; ready to publish` });
    else setVerdict({ kind: "invalid", ...result });
    return result;
  }

  async function publish() {
    const result = validate();
    if (!("event" in result)) return;
    setVerdict({ kind: "sending" });
    try {
      const answer = await api<{ accepted: unknown[]; duplicates: unknown[] }>("v1/events", { body: text, contentType: "application/cloudevents+json" });
      setVerdict({ kind: "sent", message: answer.accepted.length > 0 ? `accepted ${result.event.type} ${result.event.id}` : `duplicate: (${result.event.source}, ${result.event.id}) was published before; nothing new was queued` });
      navigate("events", { source: result.event.source, id: result.event.id });
    } catch (error) {
      const issues = error instanceof ApiError ? ((error.body.rejected as Array<{ issues: Issue[] }> | undefined)?.[0]?.issues ?? []) : [];
      setVerdict({ kind: "refused", message: (error as Error).message, issues });
    }
  }

  return (
    <div class="page events">
      <h1>Events</h1>
      <section class="panel" aria-labelledby="publish-title">
        <h2 id="publish-title">Publish</h2>
        <div class="row">
          <label for="example">Example</label>
          <select
            id="example"
            onChange={(e) => {
              const index = Number((e.target as HTMLSelectElement).value);
              if (examples[index]) load(examples[index]!.event);
            }}
          >
            <option value="">choose a shipped example…</option>
            {examples.map((example, index) => (
              <option value={String(index)}>{example.label}</option>
            ))}
          </select>
        </div>
        <label for="event-text">Event (CloudEvents 1.0, structured JSON)</label>
        <textarea
          id="event-text"
          spellcheck={false}
          rows={16}
          value={text}
          onPaste={(e) => {
            const pasted = e.clipboardData?.getData("text") ?? "";
            if (pasted.length <= MAX_PASTE_CHARS) return;
            e.preventDefault();
            setVerdict({ kind: "invalid", title: "Paste refused", message: `${tooLarge(pasted.length)}, so it was not pasted`, issues: [] });
          }}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            setVerdict({ kind: "idle" });
          }}
        />
        <div class="row">
          <button type="button" onClick={validate}>
            Validate
          </button>
          <button type="button" class="primary" onClick={() => void publish()} disabled={verdict.kind === "sending"}>
            Publish
          </button>
          <span class="hint">{formatBytes(new Blob([text]).size)} of {formatBytes(MAX_EVENT_BYTES)}</span>
        </div>
        <VerdictView verdict={verdict} />
      </section>
      <FollowPanel following={following} />
    </div>
  );
}

function VerdictView({ verdict }: { verdict: Verdict }) {
  if (verdict.kind === "idle") return <div id="verdict" role="status" aria-live="polite" />;
  if (verdict.kind === "sending") return <div id="verdict" role="status" aria-live="polite">Sending…</div>;
  if (verdict.kind === "valid" || verdict.kind === "sent") {
    return (
      <div id="verdict" class="message ok" role="status" aria-live="polite">
        {verdict.message}
      </div>
    );
  }
  return (
    <div id="verdict" class="message error" role="alert">
      <strong>{verdict.kind === "invalid" ? `${verdict.title}: not sent.` : "Refused by the runtime."}</strong> {verdict.message}
      {verdict.issues.length > 0 && (
        <ul class="issues">
          {verdict.issues.map((issue) => (
            <li>
              <code>{issue.pointer || "(the event)"}</code> {issue.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function FollowPanel({ following }: { following?: { source: string; id: string } }) {
  const [source, setSource] = useState(following?.source ?? "");
  const [id, setId] = useState(following?.id ?? "");
  useEffect(() => {
    if (following) {
      setSource(following.source);
      setId(following.id);
    }
  }, [following?.source, following?.id]);
  const tick = useLiveTick();
  const path = following ? `follow?${new URLSearchParams(following)}` : undefined;
  const { data, error } = useApi<FollowedEvent>(path, tick);
  return (
    <section class="panel" aria-labelledby="follow-title">
      <h2 id="follow-title">Follow an event</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (source && id) navigate("events", { source, id });
        }}
      >
        <label for="follow-source">source</label>
        <input id="follow-source" value={source} onInput={(e) => setSource((e.target as HTMLInputElement).value)} size={24} />
        <label for="follow-id">id</label>
        <input id="follow-id" value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} size={38} />
        <button type="submit">Follow</button>
      </form>
      {error && <p class="message error">{error}</p>}
      {data && <Followed data={data} />}
    </section>
  );
}

function Followed({ data }: { data: FollowedEvent }) {
  return (
    <div id="followed">
      <Facts
        rows={[
          ["stage", data.accepted ? data.stage : "not accepted here (never published, or its record was pruned)"],
          [
            "correlation id",
            <>
              <code>{data.correlationId}</code> <span class="hint">every log line about this event carries it as eventId</span>
            </>,
          ],
          ["traceparent", data.traceparent && <code>{data.traceparent}</code>],
          ["matched rules", data.matchedRules.length > 0 ? data.matchedRules.join(", ") : data.stage === "evaluated" ? "none" : "not evaluated yet"],
        ]}
      />
      {data.decisions.length > 0 && (
        <>
          <h3>Decisions without a message</h3>
          <ul>
            {data.decisions.map((d) => (
              <li>
                {d.rule} {d.channel ? `· ${d.channel}` : ""} {d.recipientId ? `· ${d.recipientId}` : ""}: <strong>{d.status}</strong> ({d.reason})
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Messages</h3>
      {data.messages.length === 0 ? (
        <p class="empty">No messages.</p>
      ) : (
        <table class="table" id="follow-messages">
          <thead>
            <tr>
              <th scope="col">channel</th>
              <th scope="col">rule</th>
              <th scope="col">recipient</th>
              <th scope="col">state</th>
              <th scope="col">attempts</th>
              <th scope="col">reason / last error</th>
              <th scope="col">history</th>
            </tr>
          </thead>
          <tbody>
            {data.messages.map((m) => (
              <tr data-channel={m.channel} data-state={m.state}>
                <td>{m.channel}</td>
                <td>{m.rule}</td>
                <td>{m.recipientId ?? "inline"}</td>
                <td>
                  <span class={`badge badge-${m.state.replace(/\s+/g, "-")}`}>{m.state}</span>
                  {m.deadLetterId !== undefined && (
                    <>
                      {" "}
                      <a href={`#/dlq?queue=${encodeURIComponent(m.channel)}`}>DLQ #{m.deadLetterId}</a>
                    </>
                  )}
                </td>
                <td>{m.attempts}</td>
                <td>
                  {m.reason && <code>{m.reason}</code>} {m.detail && <span class="hint">{m.detail}</span>} {m.lastError && m.state !== "sent" && m.lastError !== `${m.reason}: ${m.detail}` && <span class="error-text">{m.lastError}</span>}
                </td>
                <td>
                  {m.history.length === 0 ? (
                    <span class="hint">-</span>
                  ) : (
                    <ol class="history">
                      {m.history.map((h) => (
                        <li>
                          #{h.attempt} {h.result} <span class="hint">{time(h.at)}</span>
                          {h.error && <div class="error-text">{h.error}</div>}
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
