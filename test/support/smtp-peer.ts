/**
 * A real SMTP server in process (smtp-server on 127.0.0.1, plain TCP) that records what
 * arrives, parsed with mailparser, so channel tests assert on what a peer actually got.
 */
import { createHash, createPublicKey, verify } from "node:crypto";
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import type { ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import type { SMTPServerError } from "smtp-server";

/** One message the peer accepted. */
export interface ReceivedMail {
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The authenticated user, if the session logged in. */
  readonly user: string | undefined;
  /** The queue id the peer returned in its 250 reply. */
  readonly queueId: string;
}

/** How the peer answers RCPT TO for an address: a reply code to refuse with, a delay, or accept. */
export type RcptBehaviour = { readonly reply: number } | { readonly delayMs: number } | undefined;

export interface SmtpPeerOptions {
  /** Require AUTH PLAIN with these credentials; without it, auth is optional and unchecked. */
  readonly credentials?: { readonly user: string; readonly pass: string };
  readonly onRcpt?: (address: string) => RcptBehaviour;
}

export interface SmtpPeer {
  readonly port: number;
  readonly received: ReceivedMail[];
  /** Every TCP session the peer saw, accepted or not. */
  readonly connections: () => number;
  /** SASL methods clients used, with whether they succeeded. */
  readonly logins: { method: string; ok: boolean }[];
  readonly rcptAttempts: string[];
  close(): Promise<void>;
}

function smtpError(message: string, responseCode: number): SMTPServerError {
  return Object.assign(new Error(message), { responseCode });
}

export async function startSmtpPeer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const received: ReceivedMail[] = [];
  const logins: { method: string; ok: boolean }[] = [];
  const rcptAttempts: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let queueSeq = 0;

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authMethods: ["PLAIN"],
    authOptional: options.credentials === undefined,
    logger: false,
    closeTimeout: 200,
    onConnect(_session, callback) {
      connections++;
      callback();
    },
    onAuth(auth, _session, callback) {
      const ok =
        options.credentials !== undefined &&
        auth.username === options.credentials.user &&
        auth.password === options.credentials.pass;
      logins.push({ method: auth.method, ok });
      if (ok) callback(null, { user: auth.username });
      else callback(smtpError("Invalid username or password", 535));
    },
    onRcptTo(address, _session, callback) {
      rcptAttempts.push(address.address);
      const behaviour = options.onRcpt?.(address.address);
      if (behaviour && "reply" in behaviour) return callback(smtpError(`Refused by test peer`, behaviour.reply));
      if (behaviour && "delayMs" in behaviour) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          callback();
        }, behaviour.delayMs);
        timers.add(timer);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (error: Error) => callback(error));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const queueId = `Q${++queueSeq}${Date.now().toString(36).toUpperCase()}`;
            received.push({
              raw,
              parsed,
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                to: session.envelope.rcptTo.map((r) => r.address),
              },
              user: typeof session.user === "string" ? session.user : undefined,
              queueId,
            });
            callback(null, `OK: queued as ${queueId}`);
          },
          (error: Error) => callback(error),
        );
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    received,
    connections: () => connections,
    logins,
    rcptAttempts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.close(() => resolve());
      }),
  };
}

/** One header line as it arrived (unfolded), or undefined. Case-insensitive, last one wins. */
export function rawHeader(raw: Buffer, name: string): string | undefined {
  const head = raw.toString("latin1").split(/\r\n\r\n/)[0] ?? "";
  const fields = head.replace(/\r\n[ \t]/g, " ").split("\r\n");
  const lower = name.toLowerCase();
  const found = fields.filter((field) => field.slice(0, field.indexOf(":")).trim().toLowerCase() === lower);
  const last = found[found.length - 1];
  return last === undefined ? undefined : last.slice(last.indexOf(":") + 1).trim();
}

/**
 * Verifies the message's DKIM-Signature against a public key (relaxed/relaxed, rsa-sha256),
 * the way a receiving MTA would, minus the DNS lookup. Returns the signature's tags.
 */
export function verifyDkim(raw: Buffer, publicKeyPem: string): { valid: boolean; bodyHashOk: boolean; tags: Record<string, string> } {
  const text = raw.toString("latin1");
  const split = text.indexOf("\r\n\r\n");
  const head = text.slice(0, split + 2);
  const body = text.slice(split + 4);
  // Keep each field with its folding: relaxed canonicalization unfolds it later.
  const fields: string[] = [];
  for (const line of head.split("\r\n")) {
    if (line === "") continue;
    if (/^[ \t]/.test(line) && fields.length) fields[fields.length - 1] += "\r\n" + line;
    else fields.push(line);
  }
  const nameOf = (field: string) => field.slice(0, field.indexOf(":")).trim().toLowerCase();
  const relaxed = (field: string) =>
    `${nameOf(field)}:${field
      .slice(field.indexOf(":") + 1)
      .replace(/\r\n/g, "")
      .replace(/[ \t]+/g, " ")
      .trim()}`;
  const signatureField = fields.find((field) => nameOf(field) === "dkim-signature");
  if (!signatureField) return { valid: false, bodyHashOk: false, tags: {} };
  const tags: Record<string, string> = {};
  for (const part of signatureField.slice(signatureField.indexOf(":") + 1).split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    tags[part.slice(0, eq).replace(/\s+/g, "")] = part.slice(eq + 1).replace(/\s+/g, "");
  }

  const bodyLines = body
    .split("\r\n")
    .map((line) => line.replace(/[ \t]+/g, " ").replace(/ $/, ""));
  while (bodyLines.length && bodyLines[bodyLines.length - 1] === "") bodyLines.pop();
  const canonicalBody = bodyLines.length ? bodyLines.join("\r\n") + "\r\n" : "";
  const bodyHash = createHash("sha256").update(canonicalBody, "latin1").digest("base64");

  const used = new Map<string, number>();
  const signed: string[] = [];
  for (const name of (tags.h ?? "").toLowerCase().split(":")) {
    const candidates = fields.filter((field) => nameOf(field) === name && field !== signatureField);
    const seen = used.get(name) ?? 0;
    const field = candidates[candidates.length - 1 - seen];
    used.set(name, seen + 1);
    if (field !== undefined) signed.push(relaxed(field) + "\r\n");
  }
  const unsignedSignature = relaxed(signatureField).replace(/(^|;)(\s*b=)[^;]*/, "$1$2");
  const data = signed.join("") + unsignedSignature;
  const valid = verify("sha256", Buffer.from(data, "latin1"), createPublicKey(publicKeyPem), Buffer.from(tags.b ?? "", "base64"));
  return { valid, bodyHashOk: bodyHash === tags.bh, tags };
}
