/**
 * Fault-injecting proxies for the chaos suite. Each sits in front of a real peer (the
 * SMTP peer, the scripted Twilio peer) and, per call, either passes it through or answers
 * in the peer's place with a transient refusal, a permanent one, or no answer at all.
 * The channel modules under test are the shipped ones, talking their real protocols; only
 * the provider's answers are made worse.
 *
 * The fate of a call is `fate(identity, n)`: the message's identity (e-mail: the RCPT TO
 * address; SMS: the Body) and how many calls the proxy has seen for it, counting this one.
 * With a deterministic `fate` (see `seededFate`) the outcome of every message is known in
 * advance, whatever order the runtime's concurrent sends arrive in.
 */
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { seededUniform } from "./chaos-support";

export type Fate = "pass" | "transient" | "permanent" | "hang";

export interface FaultProxy {
  /** `smtp://127.0.0.1:PORT` or `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Every call's fate, per identity, in order. */
  readonly calls: ReadonlyMap<string, readonly Fate[]>;
  /** How many calls got each fate. */
  injected(): Record<Fate, number>;
  /** Most calls open at once (an SMTP transaction, an HTTP request), hung ones included. */
  readonly peakConcurrent: () => number;
  /** Calls that passed and were answered while at least one hung call was open. */
  readonly passedWhileHung: () => number;
  close(): Promise<void>;
}

/**
 * A fate per call from a seed: `permanent` with probability `permanent`, `transient` with
 * `transient`, else `pass`; the same (identity, n) always gets the same fate.
 */
export function seededFate(seed: string, rates: { readonly transient: number; readonly permanent: number }): (identity: string, n: number) => Fate {
  return (identity, n) => {
    const u = seededUniform(seed, identity, n);
    if (u < rates.permanent) return "permanent";
    if (u < rates.permanent + rates.transient) return "transient";
    return "pass";
  };
}

/**
 * What a message with this fate function ends as, after at most `maxAttempts` calls:
 * delivered, failed (a permanent answer) or dead-lettered (transient or hung every time).
 */
export function expectedEnd(fate: (identity: string, n: number) => Fate, identity: string, maxAttempts: number): "delivered" | "failed" | "dead-lettered" {
  for (let n = 1; n <= maxAttempts; n += 1) {
    const f = fate(identity, n);
    if (f === "pass") return "delivered";
    if (f === "permanent") return "failed";
    // transient or hang (the send times out): another attempt, if any is left
  }
  return "dead-lettered";
}

function tally(calls: Map<string, Fate[]>): Record<Fate, number> {
  const counts: Record<Fate, number> = { pass: 0, transient: 0, permanent: 0, hang: 0 };
  for (const fates of calls.values()) for (const f of fates) counts[f] += 1;
  return counts;
}

function record(calls: Map<string, Fate[]>, identity: string, fate: (identity: string, n: number) => Fate): Fate {
  const seen = calls.get(identity) ?? [];
  calls.set(identity, seen);
  const f = fate(identity, seen.length + 1);
  seen.push(f);
  return f;
}

/** Counters a proxy keeps while it runs. */
interface ProxyStats {
  open: number;
  peak: number;
  hung: number;
  passedWhileHung: number;
}

function opened(stats: ProxyStats): void {
  stats.open += 1;
  stats.peak = Math.max(stats.peak, stats.open);
}

/** Listens on 127.0.0.1 and describes the running proxy. */
async function listen(server: net.Server, scheme: "smtp" | "http", calls: Map<string, Fate[]>, stats: ProxyStats, dropConnections: () => void): Promise<FaultProxy> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    calls,
    injected: () => tally(calls),
    peakConcurrent: () => stats.peak,
    passedWhileHung: () => stats.passedWhileHung,
    close: async () => {
      dropConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An SMTP proxy: commands are read line by line and forwarded, message data is passed
 * through untouched (after a 354, up to the closing dot). At RCPT TO the fate decides:
 * pass forwards it; transient answers 451, permanent 550 (a hard bounce, as for a mailbox
 * that does not exist); hang answers nothing, ever. nodemailer pipelines MAIL, RCPT and
 * DATA, so replies are released strictly in command order, the proxy's own among the
 * server's; a refused RCPT leaves the server without a recipient, and it refuses the DATA
 * that follows as a real server would.
 */
export async function startSmtpFaultProxy(targetPort: number, fate: (identity: string, n: number) => Fate): Promise<FaultProxy> {
  const calls = new Map<string, Fate[]>();
  const sockets = new Set<net.Socket>();
  const stats: ProxyStats = { open: 0, peak: 0, hung: 0, passedWhileHung: 0 };

  const server = net.createServer((client) => {
    let hangsHere = 0;
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    // Replies owed to the client, in order: the server's next one, or the proxy's own
    // (null: never, a hang, which holds back every later reply too).
    type Owed = { readonly from: "server"; readonly then?: (reply: string) => void } | { readonly from: "proxy"; readonly text: string | null };
    const owed: Owed[] = [{ from: "server" }]; // the greeting
    const replies: string[] = [];
    let replyBuffer = "";
    let inData = false;
    let inTransaction = false;
    let pending = "";
    let tail = "";
    const begin = () => {
      if (inTransaction) return;
      inTransaction = true;
      opened(stats);
    };
    const end = () => {
      if (!inTransaction) return;
      inTransaction = false;
      stats.open -= 1;
    };
    const release = () => {
      while (owed.length > 0) {
        const head = owed[0]!;
        if (head.from === "proxy") {
          if (head.text === null) return;
          client.write(head.text);
          owed.shift();
          continue;
        }
        const reply = replies.shift();
        if (reply === undefined) return;
        owed.shift();
        head.then?.(reply);
        client.write(reply);
      }
    };
    const command = (line: string) => {
      if (/^MAIL FROM:/i.test(line)) begin();
      if (/^(RSET|QUIT)\b/i.test(line)) end();
      const rcpt = /^RCPT TO:\s*<([^>]*)>/i.exec(line);
      if (rcpt) {
        const f = record(calls, rcpt[1]!.toLowerCase(), fate);
        if (f !== "pass") {
          if (f === "hang") {
            hangsHere += 1;
            stats.hung += 1;
          }
          owed.push({ from: "proxy", text: f === "transient" ? "451 4.3.0 chaos: try again later\r\n" : f === "permanent" ? "550 5.1.1 chaos: no such mailbox\r\n" : null });
          release();
          return;
        }
      }
      if (/^DATA\s*$/i.test(line)) {
        // Message data follows only once the server said 354.
        owed.push({ from: "server", then: (reply) => (reply.startsWith("354") ? (inData = true) : end()) });
      } else owed.push({ from: "server" });
      upstream.write(`${line}\r\n`);
    };
    client.on("data", (chunk: Buffer) => {
      let text = chunk.toString("latin1");
      while (text.length > 0) {
        if (inData) {
          // Pass message data through; it ends at CRLF.CRLF (possibly split across chunks).
          const joined = tail + text;
          const at = joined.indexOf("\r\n.\r\n");
          if (at < 0) {
            upstream.write(Buffer.from(text, "latin1"));
            tail = joined.slice(-4);
            return;
          }
          const upto = at + 5 - tail.length;
          upstream.write(Buffer.from(text.slice(0, upto), "latin1"));
          text = text.slice(upto);
          tail = "";
          inData = false;
          owed.push({
            from: "server",
            then: () => {
              if (stats.hung > 0) stats.passedWhileHung += 1;
              end();
            },
          });
          continue;
        }
        pending += text;
        text = "";
        let eol: number;
        while (!inData && (eol = pending.indexOf("\r\n")) >= 0) {
          const line = pending.slice(0, eol);
          pending = pending.slice(eol + 2);
          command(line);
        }
        if (inData && pending.length > 0) {
          text = pending;
          pending = "";
        }
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      replyBuffer += chunk.toString("latin1");
      // A reply is complete at a line "NNN text" (a space, not a dash, after the code).
      const complete = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/;
      let match: RegExpExecArray | null;
      while ((match = complete.exec(replyBuffer)) !== null) {
        replies.push(match[0]);
        replyBuffer = replyBuffer.slice(match[0].length);
      }
      release();
    });
    const shut = () => {
      end();
      stats.hung -= hangsHere;
      hangsHere = 0;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", shut);
    upstream.on("close", shut);
    client.on("error", shut);
    upstream.on("error", shut);
  });
  return listen(server, "smtp", calls, stats, () => {
    for (const socket of sockets) socket.destroy();
  });
}

/**
 * An HTTP proxy in front of a Twilio peer. `identify` names the message from the request
 * (the form body). Transient answers alternate 503 and 429 (Twilio error 20429), permanent
 * is a 400 with Twilio error 21617 (no suppression, so other messages to the same number
 * are unaffected), hang never answers.
 */
export async function startHttpFaultProxy(targetBaseUrl: string, identify: (form: URLSearchParams) => string, fate: (identity: string, n: number) => Fate): Promise<FaultProxy> {
  const calls = new Map<string, Fate[]>();
  const target = new URL(targetBaseUrl);
  const stats: ProxyStats = { open: 0, peak: 0, hung: 0, passedWhileHung: 0 };
  let transientTurn = 0;

  const server = http.createServer((req, res) => {
    opened(stats);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      stats.open -= 1;
    };
    res.on("close", done);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const f = record(calls, identify(new URLSearchParams(body.toString("utf8"))), fate);
      const answer = (status: number, code: number, message: string) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
      };
      if (f === "hang") {
        stats.hung += 1;
        res.on("close", () => (stats.hung -= 1));
        return;
      }
      if (f === "transient") return (transientTurn++ % 2 === 0 ? answer(503, 20503, "chaos: service unavailable") : answer(429, 20429, "chaos: too many requests"));
      if (f === "permanent") return answer(400, 21617, "chaos: the concatenated message body exceeds the 1600 character limit");
      const forward = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
        (upstream) => {
          if (stats.hung > 0) stats.passedWhileHung += 1;
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          upstream.pipe(res);
        },
      );
      forward.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  return listen(server, "http", calls, stats, () => server.closeAllConnections());
}
