/**
 * Ports for peers that run as child processes (moto_server, the gcloud emulators,
 * Azurite, Prism, a herald process).
 *
 * The port is chosen below the kernel's ephemeral range (32768–60999 on Linux), at
 * random. Why not "listen on 0, read the port, close": the child needs a second or two
 * to bind it, and in that window any in-process server in a parallel test file that
 * listens on 0 (the SMTP peer, the push service) can be handed the very same port by
 * the kernel. CI once saw moto's readiness probe answered by an SMTP banner that way.
 * Ports below the ephemeral range are never handed out for port 0, so only another
 * random pick can collide, and the bind check below catches one already taken.
 */
import * as net from "node:net";

const LOW = 20_000;
const HIGH = 32_000;

/** A port nothing listens on, outside the range the kernel assigns for port 0. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found between ${LOW} and ${HIGH} after 50 tries`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
