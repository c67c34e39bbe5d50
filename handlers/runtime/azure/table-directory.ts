/**
 * `RecipientDirectory` on Table Storage, with the semantics of the other directories, in
 * one table whose partitions are of three kinds:
 *
 * - `r-<escaped id>` / RowKey `recipient`: one per recipient, the recipient as JSON in
 *   `body` (exact round trip) and its `id`. A partition per recipient spreads the rules
 *   function's reads over the account; listing scans the `r-` range of partition keys,
 *   which Table Storage returns in key order.
 * - `s=<sha256>` / RowKey `suppression`: one per suppressed address, keyed as core's
 *   `suppressionKey` normalises it (e-mail case-insensitive), the address kept as given.
 * - `e=<sha256 of endpoint>` / RowKey `<sha256 of id>`: the push-endpoint index, a row per
 *   (endpoint, holder), so a gone subscription is removed without scanning every recipient.
 *
 * Table Storage has no transaction across partitions. The index is therefore kept a
 * superset of the truth: a put writes its endpoints' index rows before the recipient, and
 * neither put nor delete removes index rows (a concurrent put could need them). A stale
 * row is harmless: `removePushSubscription` changes only recipients that still hold the
 * endpoint, by updates conditioned on the ETag read, and deletes the endpoint's rows.
 * One race is left open: a put that adds an endpoint while that very endpoint is being
 * removed as gone may keep it without an index row. Its next send then fails as gone
 * again and suppresses the address, so nothing more is sent to it.
 */
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { suppressionKey } from "../../core/in-memory-directory";
import type { Recipient, RecipientDirectory, Suppression } from "../../core/recipients";
import { escapeKey, sha256, statusOf } from "./table-keys";

const RECIPIENT_ROW = "recipient";
const SUPPRESSION_ROW = "suppression";
/** Partition keys of recipients are `r-...`; `.` is the character after `-`, so `r.` bounds the range. */
const RECIPIENT_PREFIX = "r-";
const RECIPIENT_RANGE_END = "r.";
/** Rounds of read-then-conditional-write on one recipient before giving up. */
const MAX_ROUNDS = 25;

interface RecipientRow {
  readonly id: string;
  readonly body: string;
}

/** `RecipientDirectory` on one table (`HERALD_RECIPIENTS_TABLE`); see the module comment for its layout. */
export class TableDirectory implements RecipientDirectory {
  constructor(private readonly table: TableClient) {}

  async get(id: string): Promise<Recipient | undefined> {
    const row = await this.readRecipient(id);
    return row ? (JSON.parse(row.body) as Recipient) : undefined;
  }

  async put(recipient: Recipient): Promise<void> {
    // Index rows first: a recipient holding an endpoint is never visible before its row.
    await Promise.all(
      [...endpointsOf(recipient)].map((endpoint) =>
        this.table.upsertEntity({ partitionKey: endpointPartition(endpoint), rowKey: sha256(recipient.id), endpoint, holder: recipient.id }, "Replace"),
      ),
    );
    await this.table.upsertEntity({ partitionKey: recipientPartition(recipient.id), rowKey: RECIPIENT_ROW, id: recipient.id, body: JSON.stringify(recipient) }, "Replace");
  }

  async delete(id: string): Promise<boolean> {
    try {
      await this.table.deleteEntity(recipientPartition(id), RECIPIENT_ROW);
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /**
   * Recipients in id order, paged by the query (a partition-key range, `top`). Ids with
   * `%`, `/`, `\`, `#`, `?` or control characters sort by their escaped form (see
   * table-keys.ts), a different but total order, so paging stays exact.
   */
  async list(options: { limit?: number; after?: string } = {}): Promise<Recipient[]> {
    const from = options.after !== undefined ? `PartitionKey gt '${quote(recipientPartition(options.after))}'` : `PartitionKey ge '${RECIPIENT_PREFIX}'`;
    const filter = `${from} and PartitionKey lt '${RECIPIENT_RANGE_END}' and RowKey eq '${RECIPIENT_ROW}'`;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const found: Recipient[] = [];
    if (limit <= 0) return found;
    const pages = this.table.listEntities<RecipientRow>({ queryOptions: { filter, select: ["body"] } }).byPage({ maxPageSize: Math.min(1000, Number.isFinite(limit) ? limit : 1000) });
    // A cross-partition query may answer with short (even empty) pages and a continuation.
    for await (const page of pages) {
      for (const row of page) {
        found.push(JSON.parse(row.body) as Recipient);
        if (found.length >= limit) return found;
      }
    }
    return found;
  }

  async suppress(suppression: Suppression): Promise<void> {
    const { channel, address, reason, at } = suppression;
    await this.table.upsertEntity({ partitionKey: suppressionPartition(channel, address), rowKey: SUPPRESSION_ROW, channel, address, reason, at }, "Replace");
  }

  async suppression(channel: string, address: string): Promise<Suppression | undefined> {
    try {
      const row = await this.table.getEntity<Suppression>(suppressionPartition(channel, address), SUPPRESSION_ROW);
      return { channel: row.channel ?? channel, address: row.address ?? address, reason: row.reason, at: row.at ?? "" };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    const partitionKey = endpointPartition(endpoint);
    const rows: Array<TableEntityResult<{ holder: string }>> = [];
    for await (const row of this.table.listEntities<{ holder: string }>({ queryOptions: { filter: `PartitionKey eq '${quote(partitionKey)}'` } })) rows.push(row);
    for (const row of rows) {
      await this.dropEndpoint(row.holder, endpoint);
      // Conditioned on the ETag read: a put that rewrote the row meanwhile keeps it.
      await this.table.deleteEntity(partitionKey, row.rowKey!, { etag: row.etag }).catch((error: unknown) => {
        if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
      });
    }
  }

  /** Removes `endpoint` from one recipient, if it still holds it, by a write conditioned on the ETag read. */
  private async dropEndpoint(id: string, endpoint: string): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.readRecipient(id);
      if (!row) return;
      const recipient = JSON.parse(row.body) as Recipient;
      const push = recipient.contacts.push;
      // A stale holder (the recipient no longer has it) is simply forgotten with its row.
      if (!push?.some((subscription) => subscription.endpoint === endpoint)) return;
      const updated: Recipient = { ...recipient, contacts: { ...recipient.contacts, push: push.filter((subscription) => subscription.endpoint !== endpoint) } };
      try {
        await this.table.updateEntity({ partitionKey: recipientPartition(id), rowKey: RECIPIENT_ROW, id, body: JSON.stringify(updated) }, "Replace", { etag: row.etag });
        return;
      } catch (error) {
        if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
      }
    }
    throw new Error(`recipient kept changing for ${MAX_ROUNDS} rounds while removing a push subscription`);
  }

  private async readRecipient(id: string): Promise<TableEntityResult<RecipientRow> | undefined> {
    try {
      return await this.table.getEntity<RecipientRow>(recipientPartition(id), RECIPIENT_ROW);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

function recipientPartition(id: string): string {
  return RECIPIENT_PREFIX + escapeKey(id);
}

function suppressionPartition(channel: string, address: string): string {
  return `s=${sha256(suppressionKey(channel, address))}`;
}

function endpointPartition(endpoint: string): string {
  return `e=${sha256(endpoint)}`;
}

/** OData string literals double their single quotes. */
function quote(value: string): string {
  return value.replace(/'/g, "''");
}

function endpointsOf(recipient: Recipient): Set<string> {
  return new Set((recipient.contacts.push ?? []).map((subscription) => subscription.endpoint));
}
