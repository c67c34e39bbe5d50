/**
 * `herald preview --cloud aws [--stack dev] [--json] [--mermaid]`: the real Pulumi program
 * run offline under mocks (no Pulumi CLI, no account), printed as the resource tree with
 * the settings that matter for review: caps, dead-letter queues, timeouts, IAM actions.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { load as loadYaml } from "js-yaml";
import { channels } from "../../handlers/channels";
import { previewProgram, type PreviewResource, type PreviewResult } from "../../infra/preview";
import { declareStack, planStack } from "../../infra/stack";
import type { CliIo } from "../io";
import { UsageError } from "../usage-error";

const CLOUDS = ["aws", "gcp", "azure"] as const;
/** Where a GCP or Azure preview is placed when the stack file names nowhere (the preview is offline; any region will do). */
const PREVIEW_REGION: Readonly<Record<string, { readonly provider: string; readonly region: string }>> = {
  gcp: { provider: "gcp:region", region: "europe-west1" },
  azure: { provider: "azure-native:location", region: "westeurope" },
};

export function registerPreviewCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("preview")
    .description("the cloud stack offline, under Pulumi mocks: resources, caps, DLQs, timeouts, IAM")
    .requiredOption("--cloud <cloud>", `target cloud (${CLOUDS.join(", ")})`)
    .option("--stack <name>", "read settings from Pulumi.<name>.yaml (default: dev, when it exists)")
    .option("--region <region>", "the region to preview in (default: the stack file's, else one of the cloud's)")
    .option("--json", "an array of { type, name, parent, inputs }")
    .option("--mermaid", "only the topology diagram (Mermaid)")
    .option("--graph", "only the topology diagram, as JSON nodes and edges (what the console draws)")
    .action(async (options: { cloud: string; stack?: string; region?: string; json?: boolean; mermaid?: boolean; graph?: boolean }) => {
      if (!(CLOUDS as readonly string[]).includes(options.cloud)) throw new UsageError(`--cloud must be one of ${CLOUDS.join(", ")}`);
      const config: Record<string, string> = { ...stackFileConfig(options.stack), "herald:cloud": options.cloud };
      if (options.region) config["herald:region"] = options.region;
      else {
        const fallback = PREVIEW_REGION[options.cloud];
        if (fallback && !config["herald:region"] && !config[fallback.provider]) config["herald:region"] = fallback.region;
      }
      const result = await previewProgram(config, () => planStack(channels), declareStack);
      if (options.json) io.out(JSON.stringify(result.resources.map(({ type, name, parent, inputs }) => ({ type, name, parent: parent ?? null, inputs })), null, 2));
      else if (options.mermaid) io.out(mermaid(result));
      else if (options.graph) io.out(JSON.stringify(topologyGraph(result)));
      else {
        for (const line of options.cloud === "gcp" ? gcpSummary(result) : options.cloud === "azure" ? azureSummary(result) : summary(result)) io.out(line);
        io.out("");
        io.out(mermaid(result));
      }
      setExit(0);
    });
}

/** `herald:*` and provider settings from a Pulumi stack file; secure (encrypted) values are left out. */
function stackFileConfig(stack: string | undefined): Record<string, string> {
  const file = `Pulumi.${stack ?? "dev"}.yaml`;
  if (!existsSync(file)) {
    if (stack !== undefined) throw new UsageError(`no ${file} here`);
    return {};
  }
  const parsed = loadYaml(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined;
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed?.config ?? {})) {
    // `secure:` values are ciphertext only the Pulumi CLI can open; the preview shows the
    // secret resources without them.
    if (typeof value === "object" && value !== null && "secure" in value) continue;
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return config;
}

const short = (resource: PreviewResource) => resource.type.replace(/^aws:[a-z0-9]+\/[a-zA-Z]+:/, "");

/** The tree, one consumer at a time, with what a reviewer checks. */
function summary(result: PreviewResult): string[] {
  const { resources, outputs } = result;
  const find = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name);
  const consumers = Object.keys((outputs.queueUrls as Record<string, string>) ?? {});
  const caps = (outputs.effectiveConcurrency as Record<string, number>) ?? {};
  const lines = [`herald:index:NotificationFanout herald (${resources.length - 1} resources, cloud ${String(outputs.cloud)})`];
  lines.push(`  entry topic ${String(outputs.topicArn)}`);
  for (const consumer of consumers) {
    const name = `herald-${consumer}`;
    const queue = find("aws:sqs/queue:Queue", name)?.inputs ?? {};
    const redrive = JSON.parse(String(find("aws:sqs/redrivePolicy:RedrivePolicy", name)?.inputs.redrivePolicy ?? "{}")) as { maxReceiveCount?: number };
    const fn = find("aws:lambda/function:Function", name)?.inputs ?? {};
    const mapping = find("aws:lambda/eventSourceMapping:EventSourceMapping", name)?.inputs ?? {};
    const policy = JSON.parse(String(find("aws:iam/rolePolicy:RolePolicy", name)?.inputs.policy ?? "{}")) as { Statement?: Array<{ Action: string[] }> };
    const code = fn.code as { archive?: Record<string, number> } | undefined;
    lines.push(`  ${consumer}`);
    lines.push(`    queue ${name}: visibility ${String(queue.visibilityTimeoutSeconds)} s; DLQ ${name}-dlq after ${String(redrive.maxReceiveCount)} receives (alarm when not empty)`);
    lines.push(
      `    function ${name}: ${String(fn.runtime)}, timeout ${String(fn.timeout)} s, ${String(fn.memorySize)} MB, bundle ${Math.round((code?.archive?.["index.js"] ?? 0) / 1024)} KB`,
    );
    lines.push(
      `    trigger: batch ${String(mapping.batchSize)}, cap ${caps[consumer] ?? "?"} (maximumConcurrency), ${(mapping.functionResponseTypes as string[] | undefined)?.join(",") ?? "no per-message failures"}`,
    );
    lines.push(`    IAM: ${[...new Set((policy.Statement ?? []).flatMap((s) => s.Action))].join(", ")}`);
  }
  const rest = resources.filter((r) => /Table|Secret$|Topic$|FunctionUrl$/.test(r.type) && r.type.startsWith("aws:"));
  for (const resource of rest) lines.push(`  ${short(resource)} ${resource.name}`);
  return lines;
}

/** How a node of the topology is drawn: Mermaid's shapes, which the console's SVG follows. */
export type GraphNodeKind = "producers" | "topic" | "queue" | "function" | "dlq";

/** The fan-out's topology as nodes and edges: rendered as Mermaid here and as SVG by the console. */
export interface TopologyGraph {
  readonly cloud: string;
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly kind: GraphNodeKind; readonly label: string }>;
  readonly edges: ReadonlyArray<{ readonly from: string; readonly to: string; readonly label: string; readonly dashed?: boolean }>;
}

/** Topic, rules, channel queues, functions and DLQs of a previewed stack, with each consumer's effective cap. */
export function topologyGraph(result: PreviewResult): TopologyGraph {
  const consumers = Object.keys((result.outputs.queueUrls as Record<string, string>) ?? {});
  const caps = (result.outputs.effectiveConcurrency as Record<string, number>) ?? {};
  const cloud = String(result.outputs.cloud ?? "aws");
  const words = {
    aws: { topic: "SNS herald-events", queue: "SQS", fn: "λ", trigger: "batch", dlq: "maxReceiveCount", send: "SendMessageBatch", subscribe: "raw delivery" },
    gcp: { topic: "Pub/Sub herald-events", queue: "Pub/Sub", fn: "function", trigger: "push", dlq: "maxDeliveryAttempts", send: "publish", subscribe: "push subscription" },
    azure: { topic: "Service Bus herald-events", queue: "Service Bus", fn: "function app", trigger: "trigger", dlq: "maxDeliveryCount", send: "send batch", subscribe: "subscription, forwardTo" },
  }[cloud] ?? { topic: "topic", queue: "queue", fn: "function", trigger: "trigger", dlq: "dead-letter", send: "send", subscribe: "subscription" };
  const nodes: Array<TopologyGraph["nodes"][number]> = [
    { id: "producers", kind: "producers", label: "producers" },
    { id: "topic", kind: "topic", label: words.topic },
  ];
  const edges: Array<TopologyGraph["edges"][number]> = [
    { from: "producers", to: "topic", label: "herald publish" },
    { from: "topic", to: "q_rules", label: words.subscribe },
  ];
  for (const consumer of consumers) {
    const q = `q_${id(consumer)}`;
    nodes.push({ id: q, kind: "queue", label: `${words.queue} ${consumer}` }, { id: `fn_${id(consumer)}`, kind: "function", label: `${words.fn} ${consumer}` }, { id: `dlq_${id(consumer)}`, kind: "dlq", label: `DLQ ${consumer}` });
    edges.push({ from: q, to: `fn_${id(consumer)}`, label: `${words.trigger}, cap ${caps[consumer] ?? "?"}` }, { from: q, to: `dlq_${id(consumer)}`, label: words.dlq, dashed: true });
    if (consumer !== "rules") edges.push({ from: "fn_rules", to: q, label: words.send });
  }
  return { cloud, nodes, edges };
}

const MERMAID_SHAPES: Record<GraphNodeKind, [string, string]> = { producers: ["([", "])"], topic: ["[[", "]]"], queue: ["[(", ")]"], function: ["{{", "}}"], dlq: ["[(", ")]"] };

/** The topology as a Mermaid flowchart: topic, rules, channel queues, functions, DLQs. */
export function mermaid(result: PreviewResult): string {
  const graph = topologyGraph(result);
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const drawn = new Set<string>();
  // Each node is given its shape where it first appears.
  const ref = (nodeId: string) => {
    const node = byId.get(nodeId);
    if (!node || drawn.has(nodeId)) return nodeId;
    drawn.add(nodeId);
    const [open, close] = MERMAID_SHAPES[node.kind];
    return `${nodeId}${open}${node.label}${close}`;
  };
  const lines = ["flowchart LR"];
  for (const edge of graph.edges) lines.push(`  ${ref(edge.from)} ${edge.dashed ? "-.->" : "-->"}|${edge.label}| ${ref(edge.to)}`);
  return lines.join("\n");
}

/** The GCP tree, one consumer at a time: subscription, function, identity. */
function gcpSummary(result: PreviewResult): string[] {
  const { resources, outputs } = result;
  const find = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name);
  const consumers = Object.keys((outputs.queueUrls as Record<string, string>) ?? {});
  const lines = [`herald:index:NotificationFanout herald (${resources.length - 1} resources, cloud gcp)`, `  entry topic ${String(outputs.topicArn)}`];
  for (const consumer of consumers) {
    const name = `herald-${consumer}`;
    const subscription = (find("gcp:pubsub/subscription:Subscription", name)?.inputs ?? {}) as any;
    const fn = ((find("gcp:cloudfunctionsv2/function:Function", name)?.inputs ?? {}) as any).serviceConfig ?? {};
    const grants = resources.filter((r) => /IAMMember$|IamMember$/.test(r.type) && r.name.startsWith(`${name}-`)).map((r) => `${String(r.inputs.role)}`);
    lines.push(`  ${consumer}`);
    lines.push(`    push subscription ${name}: ack deadline ${String(subscription.ackDeadlineSeconds)} s; DLQ ${name}-dlq after ${String(subscription.deadLetterPolicy?.maxDeliveryAttempts)} attempts (alert when not empty)`);
    lines.push(`    function ${name}: timeout ${String(fn.timeoutSeconds)} s, ${String(fn.availableMemory)}, cap ${String(fn.maxInstanceCount)} x ${String(fn.maxInstanceRequestConcurrency)}`);
    lines.push(`    IAM: ${[...new Set(grants)].join(", ")}`);
  }
  return lines;
}

/** The Azure tree, one consumer at a time: queue, function app, role assignments. */
function azureSummary(result: PreviewResult): string[] {
  const { resources, outputs } = result;
  const find = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name);
  const consumers = Object.keys((outputs.queueUrls as Record<string, string>) ?? {});
  const lines = [`herald:index:NotificationFanout herald (${resources.length - 1} resources, cloud azure)`, `  entry topic ${String(outputs.topicArn)}`];
  for (const consumer of consumers) {
    const name = `herald-${consumer}`;
    const queue = (find("azure-native:servicebus:Queue", name)?.inputs ?? {}) as any;
    const app = (find("azure-native:web:WebApp", name)?.inputs ?? {}) as any;
    const blob = (find("azure-native:storage:Blob", name)?.inputs ?? {}) as any;
    const calls = blob.source?.settings?.["host.json"]?.extensions?.serviceBus?.maxConcurrentCalls;
    const roles = resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment" && r.name.startsWith(`${name}-`)).map((r) => r.name.slice(name.length + 1));
    lines.push(`  ${consumer}`);
    lines.push(`    queue ${name}: lock ${String(queue.lockDuration)}; dead-letter subqueue after ${String(queue.maxDeliveryCount)} deliveries (alert when not empty)`);
    lines.push(`    function app ${name}: Flex Consumption, cap ${String(app.functionAppConfig?.scaleAndConcurrency?.maximumInstanceCount)} instances x ${String(calls)} calls, bundle ${Math.round((blob.source?.archive?.["index.js"] ?? 0) / 1024)} KB`);
    lines.push(`    roles: ${roles.join(", ")}`);
  }
  return lines;
}

const id = (name: string) => name.replace(/[^A-Za-z0-9]/g, "_");
