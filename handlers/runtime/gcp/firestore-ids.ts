/**
 * Document ids for herald's keys. Firestore refuses ids with `/`, ids `.` and `..`, ids
 * matching `__.*__`, and ids over 1,500 bytes; push endpoints are URLs and addresses are
 * free text, so every key is percent-encoded behind a kind prefix (which also keeps the
 * kinds sharing a collection apart), and a key too long even then is hashed.
 */
import { createHash } from "node:crypto";

/** Firestore's document id limit is 1,500 bytes; stay well under it. */
const MAX_ID_BYTES = 1_024;

/** `<prefix><encoded key>`, stable for a key and distinct between keys. */
export function documentId(prefix: string, key: string): string {
  const id = prefix + encodeURIComponent(key);
  if (Buffer.byteLength(id, "utf8") <= MAX_ID_BYTES) return id;
  // `:` is encoded by encodeURIComponent, so a hashed id can never equal an encoded one.
  return `${prefix}sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

/** gRPC status codes the stores branch on. */
export const GRPC = { alreadyExists: 6, failedPrecondition: 9, aborted: 10, notFound: 5 } as const;

/** The gRPC status code of a Firestore error, if it has one. */
export function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}
