import { describe, expect, it } from "vitest";
import { main } from "../../cli/main";

async function herald(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("herald preview", { timeout: 60_000 }, () => {
  it("--json prints every resource of the real program as { type, name, parent, inputs }, the same on every run", async () => {
    const first = await herald("preview", "--cloud", "aws", "--json");
    expect(first.code).toBe(0);
    const resources = JSON.parse(first.out) as Array<{ type: string; name: string; parent: string | null; inputs: Record<string, unknown> }>;
    expect(Object.keys(resources[0]!).sort()).toEqual(["inputs", "name", "parent", "type"]);
    expect(resources.find((r) => r.type === "herald:index:NotificationFanout")).toMatchObject({ name: "herald", parent: null });
    const mappings = resources.filter((r) => r.type === "aws:lambda/eventSourceMapping:EventSourceMapping");
    expect(mappings.map((m) => m.name).sort()).toEqual(["herald-email", "herald-push", "herald-rules", "herald-sms"]);
    expect(mappings.every((m) => m.parent === "herald")).toBe(true);
    // Pulumi.dev.yaml sets e-mail's cap to 10 and sms's to 5.
    expect(mappings.find((m) => m.name === "herald-sms")!.inputs.scalingConfig).toEqual({ maximumConcurrency: 5 });
    const second = await herald("preview", "--cloud", "aws", "--json");
    expect(second.out).toBe(first.out);
  });

  it("prints the tree with caps, DLQs, timeouts and IAM actions, then a Mermaid diagram", async () => {
    const { code, out } = await herald("preview", "--cloud", "aws");
    expect(code).toBe(0);
    expect(out).toMatch(/^herald:index:NotificationFanout herald \(\d+ resources, cloud aws\)/);
    expect(out).toMatch(/queue herald-sms: visibility 960 s; DLQ herald-sms-dlq after 8 receives/);
    expect(out).toMatch(/trigger: batch 10, cap 5 \(maximumConcurrency\), ReportBatchItemFailures/);
    expect(out).toMatch(/IAM: sqs:ReceiveMessage, .*secretsmanager:GetSecretValue/);
    expect(out).toContain("flowchart LR");
    const diagram = (await herald("preview", "--cloud", "aws", "--mermaid")).out;
    expect(diagram.split("\n")[0]).toBe("flowchart LR");
    for (const channel of ["email", "push", "sms"]) expect(diagram).toContain(`fn_rules -->|SendMessageBatch| q_${channel}`);
  });

  it("refuses a cloud it does not know, and a stack file that is not there", async () => {
    expect(await herald("preview", "--cloud", "mars")).toMatchObject({ code: 2, err: "herald: --cloud must be one of aws, gcp, azure" });
    const missing = await herald("preview", "--cloud", "aws", "--stack", "nope");
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no Pulumi\.nope\.yaml/);
  });
});

describe("herald preview --cloud gcp", { timeout: 60_000 }, () => {
  it("prints the GCP tree (push subscriptions, caps, IAM roles) and a Pub/Sub diagram, in a default region", async () => {
    const { code, out } = await herald("preview", "--cloud", "gcp");
    expect(code).toBe(0);
    expect(out).toMatch(/cloud gcp\)/);
    expect(out).toMatch(/push subscription herald-sms: ack deadline \d+ s; DLQ herald-sms-dlq after 8 attempts/);
    expect(out).toMatch(/function herald-sms: timeout \d+ s, 256M, cap 5 x 1/);
    expect(out).toContain("topic -->|push subscription| q_rules[(Pub/Sub rules)]");
    const json = JSON.parse((await herald("preview", "--cloud", "gcp", "--region", "us-central1", "--json")).out) as Array<{ type: string; inputs: Record<string, unknown> }>;
    expect(json.filter((r) => r.type === "gcp:cloudfunctionsv2/function:Function").every((r) => r.inputs.location === "us-central1")).toBe(true);
  });
});

describe("herald preview --cloud azure", { timeout: 60_000 }, () => {
  it("prints the Azure tree (queues, Flex Consumption caps, scoped roles) and a Service Bus diagram, in a default location", async () => {
    const { code, out } = await herald("preview", "--cloud", "azure");
    expect(code).toBe(0);
    expect(out).toMatch(/cloud azure\)/);
    expect(out).toMatch(/queue herald-sms: lock PT\d+S; dead-letter subqueue after 8 deliveries/);
    // sms asks for 5; Flex Consumption's floor is 40 instances, and the tree says what is deployed.
    expect(out).toMatch(/function app herald-sms: Flex Consumption, cap 40 instances x 1 calls/);
    expect(out).toMatch(/roles: receives, sends-sms, writes-idempotency, writes-recipients/);
    expect(out).toContain("topic -->|subscription, forwardTo| q_rules[(Service Bus rules)]");
    const json = JSON.parse((await herald("preview", "--cloud", "azure", "--region", "northeurope", "--json")).out) as Array<{ type: string; inputs: Record<string, unknown> }>;
    expect(json.filter((r) => r.type === "azure-native:web:WebApp").every((r) => r.inputs.location === "northeurope")).toBe(true);
  });
});
