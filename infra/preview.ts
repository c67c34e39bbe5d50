/**
 * Runs a Pulumi program offline, under Pulumi's mocks, and reports every resource it
 * declares with its resolved inputs: `herald preview` and the infra tests. The mocks
 * give each resource deterministic fake ids, ARNs, URLs and names, so two runs of the
 * same program print the same thing. Secret inputs are shown as `[secret]` and code
 * archives as their size and hash.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface PreviewResource {
  /** Pulumi type token, e.g. `aws:sqs/queue:Queue`. */
  readonly type: string;
  readonly name: string;
  /** The parent's name (`undefined` at the top of the stack). */
  readonly parent: string | undefined;
  readonly inputs: Record<string, unknown>;
  /** What the (mocked) cloud assigned: id, and arn, url and physical name where the type has them. */
  readonly identifiers: { readonly id?: string; readonly arn?: string; readonly url?: string; readonly name?: string };
}

export interface PreviewResult {
  readonly resources: PreviewResource[];
  readonly outputs: Record<string, unknown>;
}

export const FAKE_ACCOUNT = "123456789012";
export const FAKE_REGION = "us-east-1";

/** Deterministic fake state for a mocked resource: what the cloud would have filled in. */
export function fakeState(type: string, name: string, inputs: Record<string, any>): { id: string; state: Record<string, unknown> } {
  const service = /^aws:([a-z0-9]+)\//.exec(type)?.[1];
  const physical = typeof inputs.name === "string" ? inputs.name : name;
  const state: Record<string, unknown> = { ...inputs, name: physical };
  if (service) {
    state.arn = `arn:aws:${service}:${FAKE_REGION}:${FAKE_ACCOUNT}:${physical}`;
    if (type === "aws:sqs/queue:Queue") state.url = `https://sqs.${FAKE_REGION}.amazonaws.com/${FAKE_ACCOUNT}/${physical}`;
    if (type === "aws:sns/topic:Topic") state.arn = `arn:aws:sns:${FAKE_REGION}:${FAKE_ACCOUNT}:${physical}`;
    if (type === "aws:dynamodb/table:Table") state.arn = `arn:aws:dynamodb:${FAKE_REGION}:${FAKE_ACCOUNT}:table/${physical}`;
    if (type === "aws:cloudwatch/logGroup:LogGroup") state.arn = `arn:aws:logs:${FAKE_REGION}:${FAKE_ACCOUNT}:log-group:${physical}`;
    if (type === "aws:iam/role:Role") state.arn = `arn:aws:iam::${FAKE_ACCOUNT}:role/${physical}`;
    if (type === "aws:lambda/functionUrl:FunctionUrl") state.functionUrl = `https://${physical}.lambda-url.${FAKE_REGION}.on.aws/`;
  }
  if (type.startsWith("gcp:")) return fakeGcpState(type, physical, state);
  if (type.startsWith("azure-native:")) return fakeAzureState(type, name, inputs, state);
  return { id: `${physical}-id`, state };
}

export const FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";
export const FAKE_TENANT = "11111111-1111-1111-1111-111111111111";
const FAKE_RESOURCE_GROUP = `/subscriptions/${FAKE_SUBSCRIPTION}/resourceGroups/herald`;

/**
 * Azure resources are identified by ARM ids; the physical name is the logical one (Azure
 * Native would add a random suffix), identities get principal and client ids, and secrets
 * their URI, following the real patterns.
 */
function fakeAzureState(type: string, name: string, inputs: Record<string, any>, state: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  const resource = type.split(":")[2] ?? "";
  const physical = String(inputs.tableName ?? inputs.secretName ?? inputs.blobName ?? name);
  const parents = Object.entries(AZURE_PARENTS).flatMap(([input, segment]) => (typeof inputs[input] === "string" ? [`${segment}/${inputs[input]}`] : []));
  const [provider, segment] = AZURE_ID_SEGMENTS[resource] ?? [`Microsoft.${type.split(":")[1]}`, resource];
  const id = resource === "ResourceGroup" ? FAKE_RESOURCE_GROUP : `${FAKE_RESOURCE_GROUP}/providers/${provider}/${[...parents, `${segment}/${physical}`].join("/")}`;
  const extra: Record<string, unknown> = {};
  if (resource === "UserAssignedIdentity") Object.assign(extra, { principalId: `principal-${name}`, clientId: `client-${name}` });
  if (resource === "Secret") extra.properties = { ...(inputs.properties ?? {}), secretUri: `https://${String(inputs.vaultName)}.vault.azure.net/secrets/${physical}` };
  if (resource === "StorageAccount") extra.primaryEndpoints = { blob: `https://${name}.blob.core.windows.net/`, table: `https://${name}.table.core.windows.net/` };
  if (resource === "WebApp") extra.defaultHostName = `${name}.azurewebsites.net`;
  return { id, state: { ...state, ...extra, name: physical } };
}

/** Inputs that name a parent resource, and the ARM id segment of that parent. */
const AZURE_PARENTS: Readonly<Record<string, string>> = { namespaceName: "namespaces", topicName: "topics", vaultName: "vaults", accountName: "storageAccounts" };
/** Resource provider and id segment per Azure Native resource, as ARM ids spell them. */
const AZURE_ID_SEGMENTS: Readonly<Record<string, readonly [string, string]>> = {
  Namespace: ["Microsoft.ServiceBus", "namespaces"],
  Topic: ["Microsoft.ServiceBus", "topics"],
  Subscription: ["Microsoft.ServiceBus", "subscriptions"],
  Queue: ["Microsoft.ServiceBus", "queues"],
  StorageAccount: ["Microsoft.Storage", "storageAccounts"],
  Table: ["Microsoft.Storage", "tableServices/default/tables"],
  BlobContainer: ["Microsoft.Storage", "blobServices/default/containers"],
  Blob: ["Microsoft.Storage", "blobs"],
  Vault: ["Microsoft.KeyVault", "vaults"],
  Secret: ["Microsoft.KeyVault", "secrets"],
  UserAssignedIdentity: ["Microsoft.ManagedIdentity", "userAssignedIdentities"],
  RoleAssignment: ["Microsoft.Authorization", "roleAssignments"],
  AppServicePlan: ["Microsoft.Web", "serverfarms"],
  WebApp: ["Microsoft.Web", "sites"],
  ActionGroup: ["Microsoft.Insights", "actionGroups"],
  MetricAlert: ["Microsoft.Insights", "metricAlerts"],
};

const FAKE_PROJECT = "herald-preview";

/** GCP's resources are named by path; emails and URLs follow the real patterns. */
function fakeGcpState(type: string, physical: string, state: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  switch (type) {
    case "gcp:pubsub/topic:Topic":
      return { id: `projects/${FAKE_PROJECT}/topics/${physical}`, state };
    case "gcp:pubsub/subscription:Subscription":
      return { id: `projects/${FAKE_PROJECT}/subscriptions/${physical}`, state };
    case "gcp:serviceaccount/account:Account":
      return { id: `${physical}-id`, state: { ...state, email: `${String(state.accountId ?? physical)}@${FAKE_PROJECT}.iam.gserviceaccount.com` } };
    case "gcp:cloudfunctionsv2/function:Function":
      return { id: `${physical}-id`, state: { ...state, url: `https://${String(state.location ?? "region")}-${FAKE_PROJECT}.cloudfunctions.net/${physical}` } };
    case "gcp:secretmanager/secret:Secret":
      return { id: `projects/${FAKE_PROJECT}/secrets/${String(state.secretId ?? physical)}`, state: { ...state, name: `projects/${FAKE_PROJECT}/secrets/${String(state.secretId ?? physical)}` } };
    default:
      return { id: `${physical}-id`, state };
  }
}

/**
 * Runs a program under mocks with `config` (`herald:cloud` and so on): `plan` reads and
 * checks the config, `declare` declares the resources and returns the stack outputs.
 * Resolves once every input is known.
 */
export async function previewProgram<P>(
  config: Record<string, string>,
  plan: () => P,
  declare: (plan: P) => Record<string, unknown> | Promise<Record<string, unknown>>,
  secretKeys: readonly string[] = [],
): Promise<PreviewResult> {
  pulumi.runtime.setAllConfig(config, [...secretKeys]);
  // Config mistakes throw here, before Pulumi's machinery has anything in flight.
  const planned = plan();
  const assigned = new Map<string, PreviewResource["identifiers"]>();
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const fake = fakeState(args.type, args.name, args.inputs as Record<string, any>);
        const { arn, url, name } = fake.state as { arn?: string; url?: string; name?: string };
        assigned.set(`${args.type}::${args.name}`, { id: fake.id, ...(arn ? { arn } : {}), ...(url ? { url } : {}), ...(name ? { name } : {}) });
        return fake;
      },
      // The data sources the stacks read: the GCP project (its number names the Pub/Sub
      // service agent) and the Azure client (subscription and tenant ids).
      call: (args) => {
        if (args.token === "gcp:organizations/getProject:getProject") return { number: "123456789012", projectId: "herald-preview", ...args.inputs };
        if (args.token === "azure-native:authorization:getClientConfig") return { subscriptionId: FAKE_SUBSCRIPTION, tenantId: FAKE_TENANT, clientId: "preview", objectId: "preview" };
        return args.inputs;
      },
    },
    "herald",
    "preview",
    // Not a dry run: every mocked value is known, so every apply runs and the inputs
    // shown are the ones `pulumi up` would send.
    false,
  );
  const declared: Array<{ type: string; name: string; parent: string | undefined; props: Record<string, unknown>; resource: pulumi.Resource }> = [];
  const stackOutputs = await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      if (args.type !== "pulumi:pulumi:Stack") {
        declared.push({ type: args.type, name: args.name, parent: parentName(args.opts.parent), props: args.props, resource: args.resource });
      }
      return undefined;
    });
    return declare(planned);
  });
  const resources = await Promise.all(
    declared.map(async (entry) => ({ type: entry.type, name: entry.name, parent: entry.parent, inputs: await resolveInputs(entry.props), identifiers: {} })),
  );
  // Identifiers arrive as each mocked registration completes.
  await Promise.all(declared.map((entry) => new Promise((resolve) => entry.resource.urn.apply(resolve))));
  const withIdentifiers = resources.map((resource) => ({ ...resource, identifiers: assigned.get(`${resource.type}::${resource.name}`) ?? {} }));
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stackOutputs ?? {})) outputs[key] = await resolveValue(value);
  return { resources: withIdentifiers, outputs };
}

function parentName(parent: pulumi.Resource | undefined): string | undefined {
  if (!parent) return undefined;
  // Resource names are not public API; the URN's last segment is the name.
  const name = (parent as unknown as { __name?: string }).__name;
  return name === undefined || (parent as unknown as { __pulumiType?: string }).__pulumiType === "pulumi:pulumi:Stack" ? undefined : name;
}

async function resolveInputs(props: Record<string, unknown>): Promise<Record<string, unknown>> {
  const resolved: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined) continue;
    resolved[key] = await resolveValue(value);
  }
  return resolved;
}

async function resolveValue(value: unknown): Promise<unknown> {
  if (value instanceof pulumi.asset.AssetArchive) return describeArchive(value);
  const output = pulumi.output(value) as pulumi.Output<unknown>;
  if (await pulumi.isSecret(output)) return "[secret]";
  const plain = await new Promise<unknown>((resolve) => output.apply(resolve));
  return plain instanceof pulumi.asset.AssetArchive ? describeArchive(plain) : plain;
}

/**
 * A code archive as what matters in a review: its files, their sizes, a content hash, and
 * the small JSON files (package.json, host.json) in full, since they carry settings.
 */
async function describeArchive(archive: pulumi.asset.AssetArchive): Promise<Record<string, unknown>> {
  const assets = (await archive.assets) as Record<string, pulumi.asset.StringAsset>;
  const files: Record<string, number> = {};
  const settings: Record<string, unknown> = {};
  const hash = createHash("sha256");
  for (const [file, asset] of Object.entries(assets).sort(([a], [b]) => a.localeCompare(b))) {
    const text = String(await asset.text);
    files[file] = Buffer.byteLength(text);
    if (file.endsWith(".json") && files[file]! <= 4096) settings[file] = JSON.parse(text);
    hash.update(file).update("\u0000").update(text);
  }
  return { archive: files, sha256: hash.digest("hex"), ...(Object.keys(settings).length > 0 ? { settings } : {}) };
}
