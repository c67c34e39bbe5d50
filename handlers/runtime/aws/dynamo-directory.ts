/**
 * `RecipientDirectory` on the recipients table (partition key `pk`), single-table:
 *
 * - `recipient#<id>`: the recipient as JSON (`body`), with a `version` for conditional writes;
 * - `suppression#<channel>#<addressKey>`: one suppressed address (channel names hold no `#`);
 * - `push-endpoint#<endpoint>`: the ids holding that Web Push endpoint (`holders`, a string
 *   set), so a gone subscription is removed without scanning every recipient.
 *
 * A recipient and its endpoint index entries change in one transaction, conditioned on
 * the version read, so a concurrent put or removal can never leave the index missing a
 * holder (an extra holder would be harmless: removal checks the recipient itself).
 */
import { TransientError } from "../../core/errors";
import { suppressionKey } from "../../core/in-memory-directory";
import type { Recipient, RecipientDirectory, Suppression } from "../../core/recipients";
import type { AwsApi } from "./aws-json-client";
import { isConditionFailure, transactionCancellation, type ConditionParts, type DynamoItem as Item, type TransactWriteItem } from "./dynamo-items";

const RECIPIENT = "recipient#";
const SUPPRESSION = "suppression#";
const PUSH_ENDPOINT = "push-endpoint#";
/** DynamoDB's limit on actions in one transaction. */
const MAX_TRANSACTION_ITEMS = 100;
/** Rounds of read-then-conditional-write before a contended recipient is reported as a port failure. */
const MAX_ROUNDS = 5;


export class DynamoDirectory implements RecipientDirectory {
  constructor(
    private readonly client: AwsApi,
    private readonly tableName: string,
  ) {}

  async get(id: string): Promise<Recipient | undefined> {
    const item = await this.read(RECIPIENT + id);
    return item ? parseBody(item) : undefined;
  }

  async put(recipient: Recipient): Promise<void> {
    const body = JSON.stringify(recipient);
    const endpoints = endpointsOf(recipient);
    await this.withVersion(RECIPIENT + recipient.id, async (current) => {
      const held = current ? endpointsOf(parseBody(current)) : new Set<string>();
      const added = [...endpoints].filter((endpoint) => !held.has(endpoint));
      const removed = [...held].filter((endpoint) => !endpoints.has(endpoint));
      await this.transact([
        {
          Put: {
            TableName: this.tableName,
            Item: { pk: { S: RECIPIENT + recipient.id }, id: { S: recipient.id }, body: { S: body }, version: { N: String(versionOf(current) + 1) } },
            ...versionCondition(current),
          },
        },
        ...added.map((endpoint) => this.holderChange("ADD", endpoint, recipient.id)),
        ...removed.map((endpoint) => this.holderChange("DELETE", endpoint, recipient.id)),
      ]);
      await this.dropEmptyIndexEntries(removed);
    });
  }

  async delete(id: string): Promise<boolean> {
    let existed = false;
    await this.withVersion(RECIPIENT + id, async (current) => {
      existed = current !== undefined;
      if (!current) return;
      const held = [...endpointsOf(parseBody(current))];
      await this.transact([
        { Delete: { TableName: this.tableName, Key: { pk: { S: RECIPIENT + id } }, ...versionCondition(current) } },
        ...held.map((endpoint) => this.holderChange("DELETE", endpoint, id)),
      ]);
      await this.dropEmptyIndexEntries(held);
    });
    return existed;
  }

  /**
   * Recipients in id order. A Scan filtered on the recipient prefix, sorted here: it reads
   * the whole table on every call, which is acceptable for an operator listing now and
   * then, never on a hot path. A large directory would want a GSI keyed for id order.
   */
  async list(options: { limit?: number; after?: string } = {}): Promise<Recipient[]> {
    const recipients: Recipient[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.call<{ Items?: Item[]; LastEvaluatedKey?: Item }>("Scan", {
          TableName: this.tableName,
          FilterExpression: "begins_with(pk, :prefix)",
          ProjectionExpression: "body",
          ExpressionAttributeValues: { ":prefix": { S: RECIPIENT } },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      });
      for (const item of page.Items ?? []) recipients.push(parseBody(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    // UTF-16 code unit order, as the in-memory directory sorts.
    const sorted = recipients.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).filter((r) => options.after === undefined || r.id > options.after);
    return sorted.slice(0, options.limit ?? sorted.length);
  }

  async suppress(suppression: Suppression): Promise<void> {
    const { channel, address, reason, at } = suppression;
    await this.client.call("PutItem", {
      TableName: this.tableName,
      Item: { pk: { S: suppressionPk(channel, address) }, channel: { S: channel }, address: { S: address }, reason: { S: reason }, at: { S: at } },
    });
  }

  async suppression(channel: string, address: string): Promise<Suppression | undefined> {
    const item = await this.read(suppressionPk(channel, address));
    if (!item) return undefined;
    return { channel: item.channel?.S ?? channel, address: item.address?.S ?? address, reason: item.reason?.S as Suppression["reason"], at: item.at?.S ?? "" };
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    const entry = await this.read(PUSH_ENDPOINT + endpoint);
    for (const id of entry?.holders?.SS ?? []) {
      await this.withVersion(RECIPIENT + id, async (current) => {
        const recipient = current ? parseBody(current) : undefined;
        const push = recipient?.contacts.push;
        if (!current || !recipient || !push?.some((subscription) => subscription.endpoint === endpoint)) {
          // A stale holder (the recipient no longer has it): just forget it.
          await this.transact([this.holderChange("DELETE", endpoint, id)]);
          return;
        }
        const updated: Recipient = {
          ...recipient,
          contacts: { ...recipient.contacts, push: push.filter((subscription) => subscription.endpoint !== endpoint) },
        };
        await this.transact([
          {
            Put: {
              TableName: this.tableName,
              Item: { pk: { S: RECIPIENT + id }, id: { S: id }, body: { S: JSON.stringify(updated) }, version: { N: String(versionOf(current) + 1) } },
              ...versionCondition(current),
            },
          },
          this.holderChange("DELETE", endpoint, id),
        ]);
      });
    }
    if (entry) await this.dropEmptyIndexEntries([endpoint]);
  }

  private async read(pk: string): Promise<Item | undefined> {
    // Consistent reads: a suppression or a put must be seen by the very next evaluation.
    const result = await this.client.call<{ Item?: Item }>("GetItem", { TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true });
    return result.Item;
  }

  /**
   * Runs `write` with the recipient item as read now; when the write's version condition
   * fails (someone changed the recipient meanwhile) reads again and reruns it.
   */
  private async withVersion(pk: string, write: (current: Item | undefined) => Promise<void>): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const current = await this.read(pk);
      try {
        await write(current);
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    throw new TransientError("directory-contended", `recipient item changed under ${MAX_ROUNDS} attempts`);
  }

  private async transact(items: TransactWriteItem[]): Promise<void> {
    // Recipient validation allows 20 push subscriptions: at most 41 actions in practice.
    if (items.length > MAX_TRANSACTION_ITEMS)
      throw new Error(`a recipient change touches ${items.length} items; DynamoDB allows ${MAX_TRANSACTION_ITEMS} per transaction`);
    await this.client.call("TransactWriteItems", { TransactItems: items });
  }

  private holderChange(action: "ADD" | "DELETE", endpoint: string, id: string): TransactWriteItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: { S: PUSH_ENDPOINT + endpoint } },
        UpdateExpression: `${action} holders :id`,
        ExpressionAttributeValues: { ":id": { SS: [id] } },
      },
    };
  }

  /** An index entry whose last holder left is deleted (only if it is still empty then). */
  private async dropEmptyIndexEntries(endpoints: readonly string[]): Promise<void> {
    for (const endpoint of endpoints) {
      try {
        await this.client.call("DeleteItem", {
          TableName: this.tableName,
          Key: { pk: { S: PUSH_ENDPOINT + endpoint } },
          ConditionExpression: "attribute_not_exists(holders)",
        });
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }
}

/** The table key of a suppressed address, normalised as core's `suppressionKey` does. */
export function suppressionPk(channel: string, address: string): string {
  return `${SUPPRESSION}${channel}#${suppressionKey(channel, address).slice(channel.length + 1)}`;
}

function parseBody(item: Item): Recipient {
  return JSON.parse(item.body?.S ?? "null") as Recipient;
}

function endpointsOf(recipient: Recipient): Set<string> {
  return new Set((recipient.contacts.push ?? []).map((subscription) => subscription.endpoint));
}

function versionOf(item: Item | undefined): number {
  return item?.version?.N !== undefined ? Number(item.version.N) : 0;
}

/** Write only over the version read (or only where nothing was). */
function versionCondition(current: Item | undefined): ConditionParts {
  return current
    ? {
        ConditionExpression: "#version = :version",
        ExpressionAttributeNames: { "#version": "version" },
        ExpressionAttributeValues: { ":version": { N: String(versionOf(current)) } },
      }
    : { ConditionExpression: "attribute_not_exists(pk)" };
}

/** The transaction lost to a concurrent change of the same items: read again and retry. */
function isConflict(error: unknown): boolean {
  if (isConditionFailure(error)) return true;
  return (transactionCancellation(error) ?? []).some((code) => code === "ConditionalCheckFailed" || code === "TransactionConflict");
}
