/**
 * Table Storage keys for herald's keys, and the few Table Storage facts the stores share.
 *
 * PartitionKey and RowKey refuse `/`, `\`, `#`, `?` and control characters, and are at
 * most 1 KiB. Push endpoints are URLs and addresses free text, so keys that are not plain
 * are either escaped (recipient ids, whose order `list` needs) or hashed (everything else).
 */
import { createHash } from "node:crypto";
import { TableClient } from "@azure/data-tables";
import { ConfigError } from "../../core/errors";

/** Keys made only of these characters are used as they are. */
const PLAIN = /^[A-Za-z0-9._~:-]{1,400}$/;

/**
 * `<kind>:<key>` for a plain key, `<kind>=<sha256 hex>` otherwise: stable for a key,
 * distinct between keys (`=` never follows the kind of a plain key, since kinds have none),
 * always within the limits. The key itself is not recoverable: rows keep it as a property.
 */
export function hashedKey(kind: string, key: string): string {
  return PLAIN.test(key) ? `${kind}:${key}` : `${kind}=${sha256(key)}`;
}

/**
 * An order-preserving, reversible encoding for recipient ids (at most 256 characters, no
 * whitespace): the refused characters and `%` become `%XX`, everything else stays. Ids
 * without those characters (every id in practice) therefore sort exactly as the in-memory
 * directory sorts them; an id with one sorts by its encoded form, which is still one
 * total order, so paging with `after` neither skips nor repeats.
 */
export function escapeKey(key: string): string {
  return key.replace(/[%/\\#?\u0000-\u001f\u007f-\u009f]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

export function unescapeKey(encoded: string): string {
  return encoded.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The HTTP status of a Table Storage error (409 exists, 412 ETag mismatch, 404 gone). */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** Epoch milliseconds as an `Edm.Double` (exact to 2^53): a bare JS number would be sent as Int32. */
export function msValue(ms: number): { value: number; type: "Double" } {
  return { value: ms, type: "Double" };
}

/**
 * A client on one table from a connection string. Plain HTTP is allowed only for a
 * loopback endpoint (Azurite); a cloud account is always reached over TLS.
 */
export function tableClientFor(connectionString: string, table: string): TableClient {
  const endpoint = /TableEndpoint=([^;]+)/i.exec(connectionString)?.[1] ?? "";
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/)/i.test(endpoint) || /UseDevelopmentStorage=true/i.test(connectionString);
  try {
    return TableClient.fromConnectionString(connectionString, table, loopback ? { allowInsecureConnection: true } : {});
  } catch (error) {
    // The message may quote the connection string's shape, never its key.
    throw new ConfigError("config-invalid", `the Table Storage connection string is not usable: ${(error as Error).name}`);
  }
}
