import type { Database, Statement } from "./database";
import type { SinkDelivery } from "./sinks/types";

export interface InboxEntry extends SinkDelivery {
  readonly id: number;
}

/** What the local sinks received, newest first: `herald inbox` and `GET /v1/deliveries`. */
export class SqliteInbox {
  private readonly insert: Statement<[string, number, string, string, string]>;
  private readonly select: Statement<[string | null, string | null, number], { id: number; channel: string; received_at: number; address: string; summary: string; content: string }>;
  private readonly count: Statement<[], { channel: string; n: number }>;

  constructor(db: Database) {
    this.insert = db.prepare("INSERT INTO inbox (channel, received_at, address, summary, content) VALUES (?, ?, ?, ?, ?)");
    this.select = db.prepare("SELECT * FROM inbox WHERE (? IS NULL OR channel = ?) ORDER BY id DESC LIMIT ?");
    this.count = db.prepare("SELECT channel, COUNT(*) AS n FROM inbox GROUP BY channel");
  }

  record(delivery: SinkDelivery): void {
    this.insert.run(delivery.channel, Date.parse(delivery.receivedAt), delivery.address, delivery.summary, JSON.stringify(delivery.content));
  }

  list(options: { channel?: string; limit?: number } = {}): InboxEntry[] {
    const channel = options.channel ?? null;
    return this.select.all(channel, channel, options.limit ?? 50).map((row) => ({
      id: row.id,
      channel: row.channel as SinkDelivery["channel"],
      receivedAt: new Date(row.received_at).toISOString(),
      address: row.address,
      summary: row.summary,
      content: JSON.parse(row.content) as Record<string, unknown>,
    }));
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.count.all().map((row) => [row.channel, row.n]));
  }
}
