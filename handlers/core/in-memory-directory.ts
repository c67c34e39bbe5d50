import type { Recipient, RecipientDirectory, Suppression } from "./recipients";

/** `RecipientDirectory` kept in memory: tests, benchmarks, and the reference behaviour other stores match. */
export class InMemoryDirectory implements RecipientDirectory {
  private readonly recipients = new Map<string, Recipient>();
  private readonly suppressions = new Map<string, Suppression>();

  constructor(recipients: readonly Recipient[] = []) {
    for (const recipient of recipients) this.recipients.set(recipient.id, recipient);
  }

  async get(id: string): Promise<Recipient | undefined> {
    return this.recipients.get(id);
  }

  async put(recipient: Recipient): Promise<void> {
    this.recipients.set(recipient.id, recipient);
  }

  async delete(id: string): Promise<boolean> {
    return this.recipients.delete(id);
  }

  async list(options: { limit?: number; after?: string } = {}): Promise<Recipient[]> {
    const ids = [...this.recipients.keys()].sort().filter((id) => options.after === undefined || id > options.after);
    return ids.slice(0, options.limit ?? ids.length).map((id) => this.recipients.get(id)!);
  }

  async suppress(suppression: Suppression): Promise<void> {
    this.suppressions.set(suppressionKey(suppression.channel, suppression.address), suppression);
  }

  async suppression(channel: string, address: string): Promise<Suppression | undefined> {
    return this.suppressions.get(suppressionKey(channel, address));
  }

  async removePushSubscription(endpoint: string): Promise<void> {
    for (const [id, recipient] of this.recipients) {
      const push = recipient.contacts.push;
      if (push?.some((subscription) => subscription.endpoint === endpoint)) {
        this.recipients.set(id, { ...recipient, contacts: { ...recipient.contacts, push: push.filter((s) => s.endpoint !== endpoint) } });
      }
    }
  }
}

/** E-mail addresses are compared case-insensitively; other addresses as given. */
export function suppressionKey(channel: string, address: string): string {
  return `${channel}\u0000${channel === "email" ? address.toLowerCase() : address}`;
}
