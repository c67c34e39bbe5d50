/**
 * Local e-mail sink: a real SMTP server (smtp-server) on 127.0.0.1 that the email
 * channel module reaches through nodemailer exactly as it would a relay. Messages are
 * parsed with mailparser and reported to a {@link DeliverySink}.
 *
 * Plain TCP on loopback, no STARTTLS: nodemailer upgrades whenever STARTTLS is offered,
 * and a self-signed certificate would only make it refuse the connection. AUTH is always
 * required (PLAIN or LOGIN); without configured credentials random ones are generated,
 * and the `url` handed to the email module carries them, so the module's credential path
 * is the one exercised locally too.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import type { AddressObject, ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import type { SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import type { DeliverySink, EmailSinkContent, SinkDelivery } from "./types";

/** Largest message the sink takes (advertised with SIZE, enforced with 552). */
export const SMTP_SINK_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** Headers copied raw into the delivery record, by lower-case name. */
const HEADERS_OF_INTEREST = [
  "message-id",
  "x-herald-idempotency-key",
  "list-unsubscribe",
  "list-unsubscribe-post",
  "dkim-signature",
] as const;

// Sessions still open when close() is called get this long before they are cut: the
// email module keeps pooled connections open, and shutdown should not wait 30 s for them.
const CLOSE_TIMEOUT_MS = 1_000;

export interface SmtpSinkOptions {
  /** Loopback only: the sink has no TLS and is meant for this machine alone. */
  readonly host: "127.0.0.1";
  /** 0 picks a free port. */
  readonly port: number;
  readonly onDelivery: DeliverySink;
  /** AUTH user; generated when absent (give both or neither). */
  readonly username?: string;
  /** AUTH password; generated when absent (give both or neither). */
  readonly password?: string;
  /** Session-level errors (a client resetting its socket); ignored when absent. */
  readonly onError?: (error: Error) => void;
}

/** Reply codes `failNext` can inject, at RCPT TO. */
export type SmtpFailureCode = 451 | 550;

export interface SmtpSink {
  readonly port: number;
  /** `smtp://user:pass@127.0.0.1:port`, percent-encoded: the value for HERALD_SMTP_URL. */
  readonly url: string;
  /**
   * Refuses the next `count` recipients (RCPT TO) with a real SMTP reply: 451 (try again
   * later) or 550 (mailbox unavailable). Test and demo aid.
   */
  failNext(code: SmtpFailureCode, count?: number): void;
  close(): Promise<void>;
}

function smtpError(responseCode: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}

/** Compares secrets without leaking where they differ (hashing first equalises lengths). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

function addressText(value: AddressObject | AddressObject[] | undefined): string {
  if (value === undefined) return "";
  return (Array.isArray(value) ? value : [value]).map((a) => a.text).join(", ");
}

/** Raw header values, unfolded, from mailparser's header lines (last occurrence wins). */
function headersOfInterest(parsed: ParsedMail): Record<string, string> {
  const wanted: ReadonlySet<string> = new Set(HEADERS_OF_INTEREST);
  const headers: Record<string, string> = {};
  for (const { key, line } of parsed.headerLines) {
    if (!wanted.has(key)) continue;
    const colon = line.indexOf(":");
    headers[key] = line.slice(colon + 1).replace(/\r?\n[ \t]+/g, " ").trim();
  }
  return headers;
}

function envelopeOf(session: SMTPServerSession): EmailSinkContent["envelope"] {
  return {
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
    to: session.envelope.rcptTo.map((r) => r.address),
  };
}

/** Starts the SMTP sink; resolves once it listens. */
export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  if (options.host !== "127.0.0.1") throw new Error("the SMTP sink listens on 127.0.0.1 only");
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new Error("give the SMTP sink both a username and a password, or neither");
  }
  const username = options.username ?? `herald-${randomBytes(4).toString("hex")}`;
  const password = options.password ?? randomBytes(24).toString("base64url");
  if (username === "" || password === "") throw new Error("SMTP sink credentials must not be empty");

  const failures: SmtpFailureCode[] = [];
  let queueSeq = 0;

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    // Loopback only, so credentials in clear text never leave the machine.
    allowInsecureAuth: true,
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: false,
    size: SMTP_SINK_MAX_MESSAGE_BYTES,
    rejectOversized: true,
    logger: false,
    banner: "herald local SMTP sink",
    closeTimeout: CLOSE_TIMEOUT_MS,
    onAuth(auth, _session, callback) {
      const ok = sameSecret(auth.username ?? "", username) && sameSecret(auth.password ?? "", password);
      if (ok) callback(null, { user: username });
      else callback(smtpError(535, "5.7.8 Authentication credentials invalid"));
    },
    onRcptTo(_address, _session, callback) {
      const code = failures.shift();
      if (code === 451) return callback(smtpError(451, "4.7.1 Try again later (failure injected by the herald local sink)"));
      if (code === 550) return callback(smtpError(550, "5.1.1 Mailbox unavailable (failure injected by the herald local sink)"));
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      let kept = 0;
      stream.on("data", (chunk: Buffer) => {
        // Keep reading an oversized message (the protocol requires it) but stop storing it.
        if (stream.sizeExceeded) return;
        chunks.push(chunk);
        kept += chunk.length;
      });
      stream.once("error", (error: Error) => callback(error));
      stream.once("end", () => {
        if (stream.sizeExceeded) {
          return callback(smtpError(552, `5.3.4 Message exceeds the fixed maximum size of ${SMTP_SINK_MAX_MESSAGE_BYTES} bytes`));
        }
        const raw = Buffer.concat(chunks, kept);
        simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true }).then(
          async (parsed) => {
            const queueId = `${Date.now().toString(36).toUpperCase()}${(++queueSeq).toString(36).toUpperCase()}`;
            const envelope = envelopeOf(session);
            const content: EmailSinkContent = {
              from: addressText(parsed.from),
              to: addressText(parsed.to),
              envelope,
              subject: parsed.subject ?? "",
              html: typeof parsed.html === "string" ? parsed.html : null,
              text: typeof parsed.text === "string" ? parsed.text : null,
              headers: headersOfInterest(parsed),
              authenticatedUser: typeof session.user === "string" ? session.user : null,
              queueId,
              sizeBytes: raw.length,
            };
            const delivery: SinkDelivery = {
              channel: "email",
              receivedAt: new Date().toISOString(),
              address: envelope.to.join(", "),
              summary: content.subject,
              content,
            };
            try {
              await options.onDelivery(delivery);
            } catch {
              return callback(smtpError(451, "4.3.0 The local sink could not record the message"));
            }
            callback(null, `2.0.0 OK: queued as ${queueId}`);
          },
          () => callback(smtpError(554, "5.6.0 The message could not be parsed")),
        );
      });
    },
  });
  // smtp-server re-emits every session's socket error on the server; unhandled, an
  // 'error' event would take the whole local runtime down with it.
  server.on("error", (error: Error) => options.onError?.(error));

  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: Error) => reject(error);
    server.server.once("error", onListenError);
    server.listen(options.port, options.host, () => {
      server.server.off("error", onListenError);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;
  const url = `smtp://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    failNext(code: SmtpFailureCode, count = 1) {
      if (code !== 451 && code !== 550) throw new RangeError("failNext takes 451 or 550");
      if (!Number.isInteger(count) || count < 1) throw new RangeError("failNext count must be a positive integer");
      for (let i = 0; i < count; i++) failures.push(code);
    },
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}
