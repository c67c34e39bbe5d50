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

const CLOUDS = ["aws"] as const;

export function registerPreviewCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command("preview")
    .description("the cloud stack offline, under Pulumi mocks: resources, caps, DLQs, timeouts, IAM")
    .requiredOption("--cloud <cloud>", `target cloud (${CLOUDS.join(", ")})`)
    .option("--stack <name>", "read settings from Pulumi.<name>.yaml (default: dev, when it exists)")
    .option("--json", "an array of { type, name, parent, inputs }")
    .option("--mermaid", "only the topology diagram (Mermaid)")
    .action(async (options: { cloud: string; stack?: string; json?: boolean; mermaid?: boolean }) => {
      if (!(CLOUDS as readonly string[]).includes(options.cloud)) throw new UsageError(`--cloud must be one of ${CLOUDS.join(", ")} (gcp and azure are not deployable yet)`);
      const config = { ...stackFileConfig(options.stack), "herald:cloud": options.cloud };
      const result = await previewProgram(config, () => planStack(channels), declareStack);
      if (options.json) io.out(JSON.stringify(result.resources.map(({ type, name, parent, inputs }) => ({ type, name, parent: parent ?? null, inputs })), null, 2));
      else if (options.mermaid) io.out(mermaid(result));
      else {
        for (const line of summary(result)) io.out(line);
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

/** The topology as a Mermaid flowchart: topic, rules, channel queues, functions, DLQs. */
export function mermaid(result: PreviewResult): string {
  const consumers = Object.keys((result.outputs.queueUrls as Record<string, string>) ?? {});
  const caps = (result.outputs.effectiveConcurrency as Record<string, number>) ?? {};
  const lines = ["flowchart LR", "  producers([producers]) -->|herald publish| topic[[SNS herald-events]]", "  topic -->|raw delivery| q_rules[(SQS rules)]"];
  for (const consumer of consumers) {
    lines.push(`  q_${id(consumer)}[(SQS ${consumer})] -->|batch, cap ${caps[consumer] ?? "?"}| fn_${id(consumer)}{{λ ${consumer}}}`);
    lines.push(`  q_${id(consumer)} -.->|maxReceiveCount| dlq_${id(consumer)}[(DLQ ${consumer})]`);
    if (consumer !== "rules") lines.push(`  fn_rules -->|SendMessageBatch| q_${id(consumer)}`);
  }
  return lines.join("\n");
}

const id = (name: string) => name.replace(/[^A-Za-z0-9]/g, "_");
