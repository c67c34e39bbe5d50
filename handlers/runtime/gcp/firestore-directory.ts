/**
 * `RecipientDirectory` on Firestore, with the same semantics as `DynamoDirectory`, in
 * three collections so each can be read or listed on its own:
 *
 * - `<name>`: one document per recipient (`recipient#<id>`), the recipient as JSON in
 *   `body` (exact round trip: Firestore would drop `undefined` and coerce numbers) and
 *   its `id` as a field to list by;
 * - `<name>-suppressions`: one document per suppressed address (`<channel>#<addressKey>`);
 * - `<name>-push-endpoints`: per Web Push endpoint, the ids holding it (`holders`), so a
 *   gone subscription is removed without scanning every recipient.
 *
 * A recipient and its endpoint index entries change in one transaction, so a concurrent
 * put or removal can never leave the index missing a holder (Firestore retries a
 * transaction that lost to a concurrent one).
 */
import type { CollectionReference, DocumentReference, DocumentSnapshot, Firestore, Transaction } from "@google-cloud/firestore";
import { suppressionKey } from "../../core/in-memory-directory";
import type { Recipient, RecipientDirectory, Suppression } from "../../core/recipients";
import { documentId } from "./firestore-ids";

/** The collections a directory named `name` uses. */
export function directoryCollections(name: string): { recipients: string; suppressions: string; pushEndpoints: string } {
  return { recipients: name, suppressions: `${name}-suppressions`, pushEndpoints: `${name}-push-endpoints` };
}

/** Recipient validation allows 20 push subscriptions: a put touches at most 41 documents, far below Firestore's 500 writes per transaction. */
export class FirestoreDirectory implements RecipientDirectory {
  private readonly recipients: CollectionReference;
  private readonly suppressions: CollectionReference;
  private readonly endpoints: CollectionReference;

  constructor(
    private readonly firestore: Firestore,
    collectionName: string,
  ) {
    const names = directoryCollections(collectionName);
    this.recipients = firestore.collection(names.recipients);
    this.suppressions = firestore.collection(names.suppressions);
    this.endpoints = firestore.collection(names.pushEndpoints);
  }

  async get(id: string): Promise<Recipient | undefined> {
    return parseBody(await this.recipient(id).get());
  }

  async put(recipient: Recipient): Promise<void> {
    const ref = this.recipient(recipient.id);
    const endpoints = endpointsOf(recipient);
    await this.firestore.runTransaction(async (transaction) => {
      const current = parseBody(await transaction.get(ref));
      const held = current ? endpointsOf(current) : new Set<string>();
      const added = [...endpoints].filter((endpoint) => !held.has(endpoint));
      const removed = [...held].filter((endpoint) => !endpoints.has(endpoint));
      // Every read of a transaction comes before its first write.
      const removals = await this.readHolders(transaction, removed);
      const addings = await this.readHolders(transaction, added);
      transaction.set(ref, { id: recipient.id, body: JSON.stringify(recipient) });
      for (const [endpoint, holders] of addings) this.writeHolders(transaction, endpoint, [...new Set([...holders, recipient.id])]);
      for (const [endpoint, holders] of removals) this.writeHolders(transaction, endpoint, holders.filter((holder) => holder !== recipient.id));
    });
  }

  async delete(id: string): Promise<boolean> {
    const ref = this.recipient(id);
    return this.firestore.runTransaction(async (transaction) => {
      const current = parseBody(await transaction.get(ref));
      if (!current) return false;
      const removals = await this.readHolders(transaction, [...endpointsOf(current)]);
      transaction.delete(ref);
      for (const [endpoint, holders] of removals) this.writeHolders(transaction, endpoint, holders.filter((holder) => holder !== id));
      return true;
    });
  }

  /**
   * Recipients in id order, paged by the query itself (`orderBy("id")`, `startAfter`,
   * `limit`) on Firestore's automatic single-field index: no composite index needed.
   * Firestore orders strings by UTF-8 bytes, which differs from the in-memory directory's
   * UTF-16 order only between astral characters and U+E000..U+FFFF in ids.
   */
  async list(options: { limit?: number; after?: string } = {}): Promise<Recipient[]> {
    let query = this.recipients.orderBy("id");
    if (options.after !== undefined) query = query.startAfter(options.after);
    if (options.limit !== undefined) query = query.limit(options.limit);
    const snapshot = await query.get();
    return snapshot.docs.map((doc) => JSON.parse(doc.get("body") as string) as Recipient);
  }

  async suppress(suppression: Suppression): Promise<void> {
    const { channel, address, reason, at } = suppression;
    await this.suppressionRef(channel, address).set({ channel, address, reason, at });
  }

  async suppression(channel: string, address: string): Promise<Suppression | undefined> {
    const snapshot = await this.suppressionRef(channel, address).get();
    if (!snapshot.exists) return undefined;
    return {
      channel: (snapshot.get("channel") as string | undefined) ?? channel,
      address: (snapshot.get("address") as string | undefined) ?? address,
      reason: snapshot.get("reason") as Suppression["reason"],
      at: (snapshot.get("at") as string | undefined) ?? "",
    };
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    const indexRef = this.endpointRef(endpoint);
    // One transaction for the index entry and every holder: with 20 subscriptions per
    // recipient and few sharers per endpoint, it stays small.
    await this.firestore.runTransaction(async (transaction) => {
      const index = await transaction.get(indexRef);
      if (!index.exists) return;
      const holders = (index.get("holders") as string[] | undefined) ?? [];
      const refs = holders.map((id) => this.recipient(id));
      const snapshots = refs.length > 0 ? await transaction.getAll(...refs) : [];
      snapshots.forEach((snapshot, i) => {
        const recipient = parseBody(snapshot);
        const push = recipient?.contacts.push;
        // A stale holder (the recipient no longer has it) is simply forgotten with the entry.
        if (!recipient || !push?.some((subscription) => subscription.endpoint === endpoint)) return;
        const updated: Recipient = {
          ...recipient,
          contacts: { ...recipient.contacts, push: push.filter((subscription) => subscription.endpoint !== endpoint) },
        };
        transaction.set(refs[i]!, { id: updated.id, body: JSON.stringify(updated) });
      });
      transaction.delete(indexRef);
    });
  }

  private recipient(id: string): DocumentReference {
    return this.recipients.doc(documentId("recipient#", id));
  }

  /** Keyed as core's `suppressionKey` normalises (e-mail case-insensitive), the address kept as given. */
  private suppressionRef(channel: string, address: string): DocumentReference {
    return this.suppressions.doc(documentId(`${channel}#`, suppressionKey(channel, address).slice(channel.length + 1)));
  }

  private endpointRef(endpoint: string): DocumentReference {
    return this.endpoints.doc(documentId("push-endpoint#", endpoint));
  }

  /** The holders of each endpoint's index entry, read in `transaction`. */
  private async readHolders(transaction: Transaction, endpoints: readonly string[]): Promise<Array<[string, string[]]>> {
    if (endpoints.length === 0) return [];
    const snapshots = await transaction.getAll(...endpoints.map((endpoint) => this.endpointRef(endpoint)));
    return snapshots.map((snapshot, i) => [endpoints[i]!, (snapshot.get("holders") as string[] | undefined) ?? []]);
  }

  /** Writes an index entry; one whose last holder left is deleted rather than kept empty. */
  private writeHolders(transaction: Transaction, endpoint: string, holders: readonly string[]): void {
    const ref = this.endpointRef(endpoint);
    if (holders.length === 0) transaction.delete(ref);
    else transaction.set(ref, { endpoint, holders: [...holders].sort() });
  }
}

function parseBody(snapshot: DocumentSnapshot): Recipient | undefined {
  const body = snapshot.get("body") as string | undefined;
  return snapshot.exists && body !== undefined ? (JSON.parse(body) as Recipient) : undefined;
}

function endpointsOf(recipient: Recipient): Set<string> {
  return new Set((recipient.contacts.push ?? []).map((subscription) => subscription.endpoint));
}
