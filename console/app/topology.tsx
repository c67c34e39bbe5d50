/**
 * Topology: the local fan-out live (ingest, rules, each channel's queue with its cap and
 * counts, DLQs, sinks), and the same picture for a cloud stack from `herald preview`.
 */
import { useState } from "preact/hooks";
import { api, useApi, useLiveTick, type Status } from "./api";
import { Graph, type GraphEdge, type GraphNode } from "./graph";

/** `herald preview --graph`'s output (cli/commands/preview.ts). */
type TopologyGraph = { readonly cloud: string; readonly nodes: readonly GraphNode[]; readonly edges: readonly GraphEdge[] };

export function TopologyPage() {
  const tick = useLiveTick();
  const { data: status, error } = useApi<Status>("v1/status", tick);
  const { data: topology } = useApi<{ channels: string[]; providers: Record<string, string>; clouds: string[] }>("topology", 0);
  const [cloud, setCloud] = useState<{ name: string; graph?: TopologyGraph; error?: string } | undefined>(undefined);

  async function preview(name: string) {
    setCloud({ name });
    try {
      setCloud({ name, graph: await api<TopologyGraph>(`preview?cloud=${name}`) });
    } catch (failure) {
      setCloud({ name, error: (failure as Error).message });
    }
  }

  return (
    <div class="page topology">
      <h1>Topology</h1>
      {error && <p class="message error">{error}</p>}
      <section class="panel" aria-labelledby="local-title">
        <h2 id="local-title">This machine (live)</h2>
        {status && topology ? <LocalGraph status={status} channels={topology.channels} providers={topology.providers} /> : <p>Loading…</p>}
        {status && <StageTable status={status} />}
      </section>
      <section class="panel" aria-labelledby="cloud-title">
        <h2 id="cloud-title">A cloud stack (herald preview, offline)</h2>
        <p class="hint">Runs the Pulumi program under mocks with Pulumi.dev.yaml's settings, as `herald preview --cloud …` does; takes several seconds the first time.</p>
        <div class="row">
          {(topology?.clouds ?? []).map((name) => (
            <button type="button" onClick={() => void preview(name)} disabled={cloud !== undefined && !cloud.graph && !cloud.error}>
              Preview {CLOUD_NAMES[name] ?? name}
            </button>
          ))}
        </div>
        {cloud && !cloud.graph && !cloud.error && <p role="status">Running herald preview --cloud {cloud.name}…</p>}
        {cloud?.error && <p class="message error">{cloud.error}</p>}
        {cloud?.graph && (
          <div class="scroll" id="cloud-graph">
            <Graph title={`${cloud.name} topology`} nodes={cloud.graph.nodes} edges={cloud.graph.edges} />
          </div>
        )}
      </section>
    </div>
  );
}

const CLOUD_NAMES: Record<string, string> = { aws: "AWS", gcp: "GCP", azure: "Azure" };

function LocalGraph({ status, channels, providers }: { status: Status; channels: readonly string[]; providers: Record<string, string> }) {
  const rules = status.stages.rules;
  const nodes: GraphNode[] = [
    { id: "producers", kind: "producers", label: "producers", lines: ["POST /v1/events"] },
    {
      id: "ingest",
      kind: "topic",
      label: "ingest",
      lines: [`${status.ingest.accepted ?? 0} accepted`, `${status.ingest.rejected ?? 0} rejected · ${status.ingest.duplicate ?? 0} dup`],
    },
  ];
  const edges: GraphEdge[] = [{ from: "producers", to: "ingest" }];
  if (rules) {
    nodes.push({ id: "rules", kind: "queue", label: "rules queue", lines: [`${rules.pending} pending · ${rules.delayed} delayed`, `in flight ${rules.inFlight} / cap ${rules.concurrency}`] });
    nodes.push({ id: "dlq-rules", kind: "dlq", label: "rules DLQ", lines: [`${rules.deadLettered} dead letters`], alert: rules.deadLettered > 0 });
    edges.push({ from: "ingest", to: "rules" }, { from: "rules", to: "dlq-rules", dashed: true, label: "invalid" });
  }
  for (const channel of channels) {
    const stage = status.stages[channel];
    if (!stage) continue;
    nodes.push({
      id: `q-${channel}`,
      kind: "queue",
      label: `${channel} queue`,
      lines: [`${stage.pending} pending · ${stage.delayed} delayed`, `in flight ${stage.inFlight} / cap ${stage.concurrency}`, `${stage.outcomes.sent ?? 0} sent · ${stage.outcomes.failed ?? 0} failed`],
    });
    nodes.push({ id: `dlq-${channel}`, kind: "dlq", label: `${channel} DLQ`, lines: [`${stage.deadLettered} dead letters`], alert: stage.deadLettered > 0 });
    nodes.push({ id: `sink-${channel}`, kind: "sink", label: shortProvider(providers[channel] ?? channel), lines: [`${status.inbox[channel] ?? 0} received`] });
    edges.push({ from: "rules", to: `q-${channel}` }, { from: `q-${channel}`, to: `sink-${channel}`, label: `cap ${stage.concurrency}` }, { from: `q-${channel}`, to: `dlq-${channel}`, dashed: true, label: `after ${stage.maxAttempts ?? "?"} attempts` });
  }
  return (
    <div class="scroll" id="local-graph">
      <Graph title="local topology" nodes={nodes} edges={edges} />
    </div>
  );
}

/** "local SMTP sink smtp://127.0.0.1:1234" → "local SMTP sink". */
function shortProvider(provider: string): string {
  return provider.replace(/\s+(\S+:\/\/|\().*$/, "");
}

function StageTable({ status }: { status: Status }) {
  return (
    <table class="table" id="stage-table">
      <caption>Per stage</caption>
      <thead>
        <tr>
          {["stage", "pending", "delayed", "in flight", "cap", "sent", "failed", "suppressed", "filtered", "deferred", "throttled", "dead", "oldest"].map((c) => (
            <th scope="col">{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {Object.entries(status.stages).map(([name, s]) => (
          <tr>
            <th scope="row">{name}</th>
            <td>{s.pending}</td>
            <td>{s.delayed}</td>
            <td>{s.inFlight}</td>
            <td>{s.concurrency}</td>
            <td>{s.outcomes.sent ?? 0}</td>
            <td>{s.outcomes.failed ?? 0}</td>
            <td>{s.outcomes.suppressed ?? 0}</td>
            <td>{s.outcomes.filtered ?? 0}</td>
            <td>{s.outcomes.deferred ?? 0}</td>
            <td>{s.outcomes.throttled ?? 0}</td>
            <td class={s.deadLettered > 0 ? "alert" : ""}>{s.deadLettered}</td>
            <td>{s.oldestPendingAgeMs ? `${Math.round(s.oldestPendingAgeMs / 1000)} s` : "-"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
