import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { validateEvent, type AcceptedEvent } from "../../handlers/core/envelope";
import { ValidationError } from "../../handlers/core/errors";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { createConsole } from "../../console/server/console";
import { startHttpServer } from "../../handlers/runtime/local/http-server";
import { startLocalRuntime } from "../../handlers/runtime/local/runtime";
import { schemaSet } from "../../schemas/generated/schema-set";
import type { CliIo } from "../io";
import { chooseTarget, flagsGiven } from "../target";
import { UsageError } from "../usage-error";
import {
  AWS_OPTION,
  listAwsDeadLetters,
  publishToAws,
  redriveAwsDeadLetters,
  showAwsDeadLetter,
  type AwsDlqOptions,
  type AwsPublishOptions,
} from "./aws";
import {
  GCP_OPTION,
  listGcpDeadLetters,
  publishToGcp,
  redriveGcpDeadLetters,
  showGcpDeadLetter,
  type GcpDlqOptions,
  type GcpPublishOptions,
} from "./gcp";
import {
  AZURE_OPTION,
  listAzureDeadLetters,
  publishToAzure,
  redriveAzureDeadLetters,
  showAzureDeadLetter,
  type AzureDlqOptions,
  type AzurePublishOptions,
} from "./azure";

const DEFAULT_URL = `http://127.0.0.1:${process.env.HERALD_PORT || 8787}`;

/**
 * `herald dev`, and the commands that talk to a running local runtime over its HTTP API.
 * `publish` and `dlq` also take `--target aws`, `gcp` and `azure`, handled in ./aws.ts, ./gcp.ts and ./azure.ts.
 */
export function registerLocalCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("dev")
    .description("run the whole fan-out on this machine: durable queues, retries, DLQs, local delivery sinks")
    .action(async () => {
      const runtime = await startLocalRuntime();
      let webConsole: ReturnType<typeof createConsole>;
      try {
        webConsole = createConsole(runtime);
      } catch (error) {
        await runtime.stop();
        throw error;
      }
      const http = await startHttpServer(runtime, { extensions: [webConsole] });
      io.err(`herald dev: listening on ${http.url} (data in ${runtime.config.dataDir}/)`);
      io.err(`  console -> ${webConsole.url}${webConsole.access.token ? (webConsole.access.generated ? "  (not on loopback: the token is required; set HERALD_CONSOLE_TOKEN to choose it)" : "  (token from HERALD_CONSOLE_TOKEN)") : ""}`);
      for (const [name, settings] of runtime.config.channels) {
        io.err(`  ${name.padEnd(6)} -> ${runtime.providers[name] ?? "configured provider"} (concurrency ${settings.concurrency}, ${settings.maxAttempts} attempts)`);
      }
      io.err(`try:  npx herald publish schemas/events/herald.test_notification/examples/v1-email-and-sms.json && npx herald inbox`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) {
            io.err("herald dev: second signal, exiting now");
            process.exit(1);
          }
          stopping = true;
          io.err(`herald dev: ${signal}, draining in-flight work...`);
          void http
            .close()
            .then(() => runtime.stop())
            .then(() => {
              io.err("herald dev: stopped");
              resolve();
            });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
      setExit(0);
    });

  program
    .command("publish")
    .argument("<file>", "a JSON file with one event or an array of events; - reads standard input")
    .description("validate events and publish them")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .option("--target <target>", "where to publish: local, aws, gcp or azure", "local")
    .option(...AWS_OPTION.topicArn)
    .option(...AWS_OPTION.endpointUrl)
    .option(...AWS_OPTION.region)
    .option(...GCP_OPTION.topic)
    .option(...GCP_OPTION.project)
    .option(...AZURE_OPTION.topicAddress)
    .option("--json", "machine-readable output")
    .action(async (file: string, options: { url: string; target: string; json?: boolean } & AwsPublishOptions & GcpPublishOptions & AzurePublishOptions) => {
      const target = chooseTarget(options.target, cloudFlagsGiven(options));
      const events = readEvents(file);
      // Validate here first: the publisher learns what is wrong without a round trip,
      // and nothing is sent unless every event is valid (SNS would not check at all).
      const valid = validateAll(events, io);
      if (!valid) {
        setExit(1);
        return;
      }
      if (target === "aws") return setExit(await publishToAws(valid, options, io));
      if (target === "gcp") return setExit(await publishToGcp(valid, options, io));
      if (target === "azure") return setExit(await publishToAzure(valid, options, io));
      const accepted: unknown[] = [];
      const duplicates: unknown[] = [];
      const chunks = chunk(events, 500);
      const progress = chunks.length > 1 && process.stderr.isTTY;
      for (const [index, part] of chunks.entries()) {
        const result = (await call(options.url, "POST", "/v1/events", part, "application/cloudevents-batch+json")) as { accepted: unknown[]; duplicates: unknown[] };
        accepted.push(...result.accepted);
        duplicates.push(...result.duplicates);
        if (progress) process.stderr.write(`\rpublished ${Math.min((index + 1) * 500, events.length)}/${events.length}`);
      }
      if (progress) process.stderr.write("\n");
      if (options.json) io.out(JSON.stringify({ accepted, duplicates }, null, 2));
      else io.out(`accepted ${accepted.length} event${accepted.length === 1 ? "" : "s"}${duplicates.length ? `, ${duplicates.length} duplicate${duplicates.length === 1 ? "" : "s"} ignored` : ""}`);
      setExit(0);
    });

  program
    .command("inbox")
    .description("what the local delivery sinks received")
    .option("--channel <channel>", "only this channel")
    .option("--limit <n>", "how many", "20")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .option("--json", "machine-readable output")
    .action(async (options: { channel?: string; limit: string; url: string; json?: boolean }) => {
      const query = new URLSearchParams({ limit: options.limit, ...(options.channel ? { channel: options.channel } : {}) });
      const { deliveries } = (await call(options.url, "GET", `/v1/deliveries?${query}`)) as { deliveries: Array<{ receivedAt: string; channel: string; address: string; summary: string }> };
      if (options.json) io.out(JSON.stringify(deliveries, null, 2));
      else if (deliveries.length === 0) io.out("inbox is empty");
      else for (const d of deliveries) io.out(`${d.receivedAt}  ${d.channel.padEnd(5)}  ${d.address}  ${d.summary}`);
      setExit(0);
    });

  program
    .command("status")
    .description("per stage and channel: pending, in flight, delivered, failed, dead-lettered, oldest pending")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .option("--json", "machine-readable output")
    .action(async (options: { url: string; json?: boolean }) => {
      const status = (await call(options.url, "GET", "/v1/status")) as { ingest: Record<string, number>; stages: Record<string, Record<string, any>> };
      if (options.json) {
        io.out(JSON.stringify(status, null, 2));
        setExit(0);
        return;
      }
      io.out(`events: ${status.ingest.accepted ?? 0} accepted, ${status.ingest.rejected ?? 0} rejected, ${status.ingest.duplicate ?? 0} duplicate`);
      const columns = ["stage", "pending", "delayed", "in flight", "cap", "sent", "failed", "suppressed", "filtered", "deferred", "throttled", "dead", "oldest"];
      const rows = Object.entries(status.stages).map(([name, s]) => [
        name,
        s.pending,
        s.delayed,
        s.inFlight,
        s.concurrency,
        s.outcomes?.sent ?? 0,
        s.outcomes?.failed ?? 0,
        s.outcomes?.suppressed ?? 0,
        s.outcomes?.filtered ?? 0,
        s.outcomes?.deferred ?? 0,
        s.outcomes?.throttled ?? 0,
        s.deadLettered,
        s.oldestPendingAgeMs ? `${Math.round(s.oldestPendingAgeMs / 1000)}s` : "-",
      ].map(String));
      const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
      io.out(columns.map((c, i) => c.padEnd(widths[i]!)).join("  "));
      for (const row of rows) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join("  "));
      setExit(0);
    });

  const REDRIVE_CHUNK = 500;
  const dlq = program.command("dlq").description("inspect and redrive dead-lettered messages");
  cloudDlqOptions(
    dlq
      .command("list")
      .option("--channel <channel>", "only this channel's DLQ (or rules); required with a cloud --target")
      .option("--url <url>", "local runtime URL", DEFAULT_URL)
      .option("--target <target>", "local, aws, gcp or azure", "local"),
  )
    .option("--json", "machine-readable output")
    .action(async (options: { channel?: string; url: string; target: string; json?: boolean } & AwsDlqOptions & GcpDlqOptions & AzureDlqOptions) => {
      const target = chooseTarget(options.target, cloudFlagsGiven(options));
      if (target === "aws") return setExit(await listAwsDeadLetters(options, io));
      if (target === "gcp") return setExit(await listGcpDeadLetters(options, io));
      if (target === "azure") return setExit(await listAzureDeadLetters(options, io));
      const query = new URLSearchParams({ limit: "1000", ...(options.channel ? { queue: options.channel } : {}) });
      const { deadLetters } = (await call(options.url, "GET", `/v1/dlq?${query}`)) as { deadLetters: Array<{ id: number; queue: string; attempts: number; lastError?: string; deadLetteredAtMs: number }> };
      if (options.json) io.out(JSON.stringify(deadLetters, null, 2));
      else if (deadLetters.length === 0) io.out("no dead letters");
      else for (const d of deadLetters) io.out(`${String(d.id).padStart(6)}  ${d.queue.padEnd(6)}  ${d.attempts} attempts  ${new Date(d.deadLetteredAtMs).toISOString()}  ${d.lastError ?? ""}`);
      setExit(0);
    });
  cloudDlqOptions(
    dlq
      .command("show")
      .argument("<id>", "dead letter id (with --target aws: the SQS message id; gcp: the Pub/Sub message id; azure: the Service Bus message id)")
      .option("--url <url>", "local runtime URL", DEFAULT_URL)
      .option("--target <target>", "local, aws, gcp or azure", "local")
      .option("--channel <channel>", "aws, gcp, azure: the channel whose DLQ holds it"),
  )
    .action(async (id: string, options: { url: string; target: string } & AwsDlqOptions & GcpDlqOptions & AzureDlqOptions) => {
      const target = chooseTarget(options.target, cloudFlagsGiven(options));
      if (target === "aws") return setExit(await showAwsDeadLetter(id, options, io));
      if (target === "gcp") return setExit(await showGcpDeadLetter(id, options, io));
      if (target === "azure") return setExit(await showAzureDeadLetter(id, options, io));
      io.out(JSON.stringify(await call(options.url, "GET", `/v1/dlq/${encodeURIComponent(id)}`), null, 2));
      setExit(0);
    });
  cloudDlqOptions(
    dlq
      .command("redrive")
      .option("--channel <channel>", "only this channel's DLQ (or rules); required with a cloud --target")
      .option("--id <ids...>", "only these dead letters")
      .option("--url <url>", "local runtime URL", DEFAULT_URL)
      .option("--target <target>", "local, aws, gcp or azure", "local"),
    { redrive: true },
  )
    .option("--json", "machine-readable output")
    .action(async (options: { channel?: string; id?: string[]; url: string; target: string; json?: boolean } & AwsDlqOptions & GcpDlqOptions & AzureDlqOptions) => {
      const target = chooseTarget(options.target, cloudFlagsGiven(options));
      if (target === "aws") return setExit(await redriveAwsDeadLetters(options, io));
      if (target === "gcp") return setExit(await redriveGcpDeadLetters(options, io));
      if (target === "azure") return setExit(await redriveAzureDeadLetters(options, io));
      // Redriven in chunks of ids, so a large DLQ moves in short transactions (the
      // runtime keeps delivering meanwhile) and a terminal shows how far it got.
      // Ids asked for that are not dead letters (of this channel) are named and exit 1, as on the clouds.
      const present = await deadLetterIds(options.url, options.channel);
      const notFound = options.id ? options.id.filter((id) => !present.includes(Number(id))) : [];
      const ids = options.id ? options.id.filter((id) => !notFound.includes(id)).map(Number) : present;
      const chunks = chunk(ids, REDRIVE_CHUNK);
      const progress = chunks.length > 1 && process.stderr.isTTY;
      let redriven = 0;
      for (const part of chunks) {
        const body = { ...(options.channel ? { queue: options.channel } : {}), ids: part };
        redriven += ((await call(options.url, "POST", "/v1/dlq/redrive", body)) as { redriven: number }).redriven;
        if (progress) process.stderr.write(`\rredrove ${redriven}/${ids.length}`);
      }
      if (progress) process.stderr.write("\n");
      io.out(options.json ? JSON.stringify({ redriven }) : `redrove ${redriven} message${redriven === 1 ? "" : "s"}`);
      for (const id of notFound) io.err(`herald dlq redrive: not in the DLQ: ${id}`);
      setExit(notFound.length > 0 ? 1 : 0);
    });

  /** Every dead letter's id (of one queue, or all), page by page. */
  async function deadLetterIds(url: string, queue: string | undefined): Promise<number[]> {
    const ids: number[] = [];
    for (let after = 0; ; ) {
      const query = new URLSearchParams({ limit: "1000", after: String(after), ...(queue ? { queue } : {}) });
      const { deadLetters } = (await call(url, "GET", `/v1/dlq?${query}`)) as { deadLetters: Array<{ id: number }> };
      if (deadLetters.length === 0) return ids;
      for (const { id } of deadLetters) ids.push(id);
      after = deadLetters[deadLetters.length - 1]!.id;
    }
  }

  const recipients = program.command("recipients").description("manage recipients: contact points, opt-outs, quiet hours");
  recipients
    .command("put")
    .argument("<file>", "a JSON recipient (or an array of them); - reads standard input")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .action(async (file: string, options: { url: string }) => {
      const list = readEvents(file) as Array<{ id?: unknown }>;
      for (const recipient of list) {
        if (typeof recipient.id !== "string") throw new UsageError("every recipient needs a string id");
        await call(options.url, "PUT", `/v1/recipients/${encodeURIComponent(recipient.id)}`, recipient);
        io.out(`stored ${recipient.id}`);
      }
      setExit(0);
    });
  recipients
    .command("get")
    .argument("<id>")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .action(async (id: string, options: { url: string }) => {
      io.out(JSON.stringify(await call(options.url, "GET", `/v1/recipients/${encodeURIComponent(id)}`), null, 2));
      setExit(0);
    });
  recipients
    .command("list")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .option("--json", "machine-readable output")
    .action(async (options: { url: string; json?: boolean }) => {
      const { recipients: list } = (await call(options.url, "GET", "/v1/recipients?limit=1000")) as { recipients: Array<{ id: string; contacts: Record<string, unknown> }> };
      if (options.json) io.out(JSON.stringify(list, null, 2));
      else for (const r of list) io.out(`${r.id}  ${Object.keys(r.contacts).join(", ")}`);
      setExit(0);
    });
  recipients
    .command("push-local")
    .argument("<id>", "recipient id")
    .description("give a recipient a web push subscription on the embedded push service (no browser needed)")
    .option("--url <url>", "local runtime URL", DEFAULT_URL)
    .action(async (id: string, options: { url: string }) => {
      const { subscription } = (await call(options.url, "POST", `/v1/recipients/${encodeURIComponent(id)}/push-subscriptions/local`, {})) as { subscription: { endpoint: string } };
      io.out(`subscribed ${id}: ${subscription.endpoint}`);
      setExit(0);
    });
}

/**
 * The flags every `dlq` subcommand takes for the cloud targets (where the dead letters
 * are); `redrive` also takes where they go back to.
 */
function cloudDlqOptions(command: Command, options: { redrive?: boolean } = {}): Command {
  command.option(...AWS_OPTION.queueUrl);
  if (options.redrive) command.option(...AWS_OPTION.sourceQueueUrl);
  command.option(...AWS_OPTION.endpointUrl).option(...AWS_OPTION.region).option(...GCP_OPTION.subscription);
  if (options.redrive) command.option(...GCP_OPTION.sourceTopic);
  return command.option(...GCP_OPTION.project).option(...AZURE_OPTION.queueAddress);
}

/** The cloud-specific flags given, by the target they belong to (see `chooseTarget`). */
function cloudFlagsGiven(options: object): { aws: string[]; gcp: string[]; azure: string[] } {
  return { aws: flagsGiven(AWS_OPTION, options), gcp: flagsGiven(GCP_OPTION, options), azure: flagsGiven(AZURE_OPTION, options) };
}

/**
 * Every event checked against the schema registry; on any problem prints each one
 * ("herald publish: rejected: ...") and returns undefined, so nothing is sent.
 */
function validateAll(events: readonly unknown[], io: CliIo): AcceptedEvent[] | undefined {
  const registry = new SchemaRegistry(schemaSet);
  const valid: AcceptedEvent[] = [];
  const problems: string[] = [];
  events.forEach((event, index) => {
    try {
      valid.push(validateEvent(event, registry));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(`${events.length > 1 ? `event ${index}: ` : ""}${error.code}: ${error.message}`);
    }
  });
  for (const problem of problems) io.err(`herald publish: rejected: ${problem}`);
  return problems.length > 0 ? undefined : valid;
}

function readEvents(file: string): unknown[] {
  const text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file === "-" ? "standard input" : file} is not valid JSON: ${(error as Error).message}`);
  }
  return Array.isArray(value) ? value : [value];
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Calls the local runtime; a refusal becomes one clear line, not a stack. */
async function call(base: string, method: string, path: string, body?: unknown, contentType = "application/json"): Promise<unknown> {
  let response: Response;
  try {
    // A runtime bound off loopback wants the token on its API (see console/server/console.ts).
    const token = process.env.HERALD_CONSOLE_TOKEN;
    response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body !== undefined ? { "content-type": contentType } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    throw new UsageError(`cannot reach the local runtime at ${base} (${(error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message}); start it with \`npm start\``);
  }
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    const details = Array.isArray(parsed.rejected)
      ? (parsed.rejected as Array<{ index: number; message: string }>).map((r) => `\n  event ${r.index}: ${r.message}`).join("")
      : "";
    throw new RemoteError(`${response.status} ${String(parsed.error ?? "error")}: ${String(parsed.message ?? text)}${details}`);
  }
  return parsed;
}

/** The runtime refused the request; exit 1 with its reason. */
class RemoteError extends ValidationError {
  constructor(message: string) {
    super("remote-refused", message);
  }
}
