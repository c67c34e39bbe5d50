/**
 * The fan-out on Azure: a Service Bus namespace (Standard, local auth off) with the entry
 * topic; per consumer a queue (lock duration, duplicate detection, maxDeliveryCount) whose
 * built-in `$deadletterqueue` is its DLQ, fed for the rules consumer by a topic
 * subscription that forwards to it; one Function App on Flex Consumption per function,
 * each with its own user-assigned identity; Table Storage for the stores; Key Vault for
 * the secrets, read by the platform through Key Vault references; role assignments
 * scoped to the one queue, table or secret they are for; a metric alert per queue on
 * dead-lettered messages.
 *
 * The cap is maximumInstanceCount x host.json `serviceBus.maxConcurrentCalls`. Flex
 * Consumption does not accept a maximum below 40 instances, so a smaller cap is deployed
 * as 40 and reported (see effectiveConcurrency).
 */
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as monitor from "@pulumi/azure-native/monitor";
import * as resources from "@pulumi/azure-native/resources";
import * as servicebus from "@pulumi/azure-native/servicebus";
import * as storage from "@pulumi/azure-native/storage";
import * as web from "@pulumi/azure-native/web";
import { AZURE_ENV, channelQueueVariable, REJECTED_SUFFIX } from "../../handlers/runtime/azure/env";
import { MAX_HOLD_MS } from "../../handlers/runtime/azure/function-settlement";
import type { FunctionBundle } from "../bundle";
import type {
  AlarmTargetHandle,
  EndpointHandle,
  EndpointSpec,
  FunctionHandle,
  FunctionSpec,
  Platform,
  QueueHandle,
  SecretHandle,
  SecretSpec,
  StoreHandle,
  StoreKind,
  TopicHandle,
} from "../platform";
import type { ConsumerTopology } from "../topology";

/** Flex Consumption's bounds on maximumInstanceCount. */
export const FLEX_MIN_INSTANCES = 40;
export const FLEX_MAX_INSTANCES = 1000;
/** Service Bus's longest peek-lock; the trigger renews locks for longer invocations. */
const MAX_LOCK_SECONDS = 300;
/** How long Service Bus remembers message ids for duplicate detection. */
const DUPLICATE_WINDOW = "PT10M";
/** Messages not consumed within this are dead-lettered (with dead-lettering on expiration). */
const MESSAGE_TTL = "P14D";
/**
 * Service Bus has no "age of the oldest message" metric: the backlog alarm fires on the
 * active message count staying above this for the window instead.
 */
export const BACKLOG_ALARM_MESSAGES = 1000;

/**
 * Built-in role definition ids (the same GUID in every tenant). Each assignment below is
 * scoped to one entity: a queue, a table, a secret, a blob container.
 */
export const AZURE_ROLES = {
  serviceBusDataReceiver: "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
  serviceBusDataSender: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
  tableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  tableDataReader: "76199698-9eea-4c19-bc75-cec21354c6b6",
  blobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
} as const;

interface AzureTopic extends TopicHandle {
  readonly topic: servicebus.Topic;
}
interface AzureQueue extends QueueHandle {
  readonly queue: servicebus.Queue;
  /** The rules consumer's queue of events that failed validation (a v4 trigger cannot dead-letter with a reason). */
  readonly rejected?: servicebus.Queue;
}
interface AzureStore extends StoreHandle {
  readonly table: storage.Table;
}
interface AzureSecret extends SecretHandle {
  readonly secret: keyvault.Secret;
  /** Versionless, so a rotated value is picked up; built from names, which are not secret (the resource's `properties` output is). */
  readonly uri: pulumi.Output<string>;
}
interface AzureFunction extends FunctionHandle {
  readonly app: web.WebApp;
}

export interface AzurePlatformOptions {
  readonly location: string;
}

interface Shared {
  readonly group: resources.ResourceGroup;
  readonly namespace: servicebus.Namespace;
  readonly account: storage.StorageAccount;
  readonly vault: keyvault.Vault;
}

export class AzurePlatform implements Platform {
  readonly cloud = "azure" as const;
  private readonly client = authorization.getClientConfigOutput();
  private shared?: Shared;

  constructor(private readonly options: AzurePlatformOptions) {}

  /** maximumInstanceCount x maxConcurrentCalls, within Flex Consumption's instance bounds. */
  effectiveConcurrency(consumer: ConsumerTopology): number {
    const { instances, callsPerInstance } = scaleFor(consumer.concurrency);
    return instances * callsPerInstance;
  }

  alarmTarget(name: string, email: string | undefined, opts: pulumi.CustomResourceOptions): AlarmTargetHandle {
    if (!email) return { address: pulumi.output("") };
    const { group } = this.base(opts);
    const actionGroup = new monitor.ActionGroup(
      name,
      { resourceGroupName: group.name, location: "Global", enabled: true, groupShortName: "herald", emailReceivers: [{ name: "on-call", emailAddress: email, useCommonAlertSchema: true }] },
      opts,
    );
    return { address: actionGroup.id };
  }

  topic(name: string, opts: pulumi.CustomResourceOptions): AzureTopic {
    const { group, namespace } = this.base(opts);
    const topic = new servicebus.Topic(
      name,
      {
        resourceGroupName: group.name,
        namespaceName: namespace.name,
        topicName: name,
        requiresDuplicateDetection: true,
        duplicateDetectionHistoryTimeWindow: DUPLICATE_WINDOW,
        defaultMessageTimeToLive: MESSAGE_TTL,
      },
      opts,
    );
    return { address: entityAddress(namespace, topic.name), topic };
  }

  store(name: string, kind: StoreKind, opts: pulumi.CustomResourceOptions): AzureStore {
    const { group, account } = this.base(opts);
    // Table names: alphanumeric, starting with a letter. Rows carry expireAt; Table Storage has no TTL.
    const table = new storage.Table(name, { resourceGroupName: group.name, accountName: account.name, tableName: `herald${kind}` }, opts);
    return { kind, name: table.name, table };
  }

  secret(name: string, spec: SecretSpec, opts: pulumi.CustomResourceOptions): AzureSecret {
    const { group, vault } = this.base(opts);
    const secret = new keyvault.Secret(
      name,
      { resourceGroupName: group.name, vaultName: vault.name, secretName: (spec.secretName ?? name).replace(/[^A-Za-z0-9-]/g, "-"), properties: { value: pulumi.secret(spec.value) } },
      opts,
    );
    return { owner: spec.owner, name: secret.name, secret, uri: pulumi.interpolate`https://${vault.name}.vault.azure.net/secrets/${secret.name}` };
  }

  queue(name: string, consumer: ConsumerTopology, opts: pulumi.CustomResourceOptions): AzureQueue {
    const { group, namespace } = this.base(opts);
    const queue = new servicebus.Queue(
      name,
      {
        resourceGroupName: group.name,
        namespaceName: namespace.name,
        // Entities are named as declared (the namespace is the stack's own, so names cannot
        // collide), so the CLI finds the rules queue's rejected queue by its name.
        queueName: name,
        // The lock covers one send and the longest hold of an abandon (function-settlement.ts).
        lockDuration: `PT${lockSeconds(consumer)}S`,
        maxDeliveryCount: consumer.maxAttempts,
        requiresDuplicateDetection: true,
        duplicateDetectionHistoryTimeWindow: DUPLICATE_WINDOW,
        deadLetteringOnMessageExpiration: true,
        defaultMessageTimeToLive: MESSAGE_TTL,
      },
      opts,
    );
    const rejected =
      consumer.kind === "rules"
        ? new servicebus.Queue(
            `${name}${REJECTED_SUFFIX}`,
            {
              resourceGroupName: group.name,
              namespaceName: namespace.name,
              queueName: `${name}${REJECTED_SUFFIX}`,
              defaultMessageTimeToLive: MESSAGE_TTL,
              maxDeliveryCount: 10,
              deadLetteringOnMessageExpiration: true,
            },
            opts,
          )
        : undefined;
    return {
      consumer: consumer.name,
      url: entityAddress(namespace, queue.name),
      deadLetterUrl: pulumi.interpolate`${entityAddress(namespace, queue.name)}/$deadletterqueue`,
      queue,
      ...(rejected ? { rejected } : {}),
    };
  }

  subscribe(name: string, topic: TopicHandle, queue: QueueHandle, opts: pulumi.CustomResourceOptions): void {
    const { group, namespace } = this.base(opts);
    const target = queue as AzureQueue;
    // Forwarded at once into the consumer's queue, where its retries and DLQ apply.
    new servicebus.Subscription(
      name,
      {
        resourceGroupName: group.name,
        namespaceName: namespace.name,
        topicName: (topic as AzureTopic).topic.name,
        subscriptionName: name,
        forwardTo: target.queue.name,
        maxDeliveryCount: 10,
        deadLetteringOnMessageExpiration: true,
        deadLetteringOnFilterEvaluationExceptions: true,
      },
      opts,
    );
  }

  function(name: string, spec: FunctionSpec, opts: pulumi.CustomResourceOptions): AzureFunction {
    const { consumer, access } = spec;
    const consumes = access.consumes as AzureQueue;
    const identity = this.identity(name, opts);
    const grants: pulumi.Resource[] = [this.grant(`${name}-receives`, identity, AZURE_ROLES.serviceBusDataReceiver, consumes.queue.id, opts)];
    for (const { channel, queue } of access.sendsTo) {
      grants.push(this.grant(`${name}-sends-${channel}`, identity, AZURE_ROLES.serviceBusDataSender, (queue as AzureQueue).queue.id, opts));
    }
    const rejected = (access.sendsToDeadLetter as AzureQueue | undefined)?.rejected;
    if (rejected) grants.push(this.grant(`${name}-sends-rejected`, identity, AZURE_ROLES.serviceBusDataSender, rejected.id, opts));
    grants.push(...this.storeGrants(name, identity, access.stores, opts));
    const secrets: Array<{ setting: string; secret: AzureSecret }> = [];
    if (access.secret) secrets.push({ setting: AZURE_ENV.channelSecrets, secret: access.secret as AzureSecret });
    if (access.unsubscribe) secrets.push({ setting: AZURE_ENV.unsubscribeSecret, secret: access.unsubscribe.key as AzureSecret });
    for (const { secret } of secrets) grants.push(this.grant(`${name}-reads-${secret.owner}`, identity, AZURE_ROLES.keyVaultSecretsUser, secret.secret.id, opts));

    const { namespace } = this.base(opts);
    const queueSettings: Record<string, pulumi.Input<string>> =
      consumer.kind === "rules"
        ? { [AZURE_ENV.eventsQueue]: consumes.queue.name, ...(rejected ? { [AZURE_ENV.rulesDeadLetterQueue]: rejected.name } : {}) }
        : {};
    for (const { channel, queue } of access.sendsTo) queueSettings[channelQueueVariable(channel)] = (queue as AzureQueue).queue.name;
    const app = this.functionApp(
      name,
      spec.bundle,
      {
        identity,
        ...scaleFor(consumer.concurrency),
        timeoutSeconds: lockSeconds(consumer),
        memoryMb: consumer.memoryMb,
        settings: {
          ...spec.settings,
          ...queueSettings,
          [`${AZURE_ENV.serviceBusConnection}__fullyQualifiedNamespace`]: pulumi.interpolate`${namespace.name}.servicebus.windows.net`,
          [`${AZURE_ENV.serviceBusConnection}__credential`]: "managedidentity",
          [`${AZURE_ENV.serviceBusConnection}__clientId`]: identity.clientId,
          ...this.storeSettings(access.stores),
          ...(access.unsubscribe ? { [AZURE_ENV.unsubscribeBaseUrl]: access.unsubscribe.url } : {}),
          ...(consumer.kind === "channel" ? { [AZURE_ENV.channelTimeoutMs]: String(consumer.timeoutMs) } : {}),
          ...keyVaultReferences(secrets),
        },
      },
      { ...opts, dependsOn: grants },
    );
    return { consumer: consumer.name, name: app.name, app };
  }

  endpoint(name: string, spec: EndpointSpec, opts: pulumi.CustomResourceOptions): EndpointHandle {
    const identity = this.identity(name, opts);
    const key = spec.key as AzureSecret;
    const grants = [...this.storeGrants(name, identity, spec.stores, opts), this.grant(`${name}-reads-key`, identity, AZURE_ROLES.keyVaultSecretsUser, key.secret.id, opts)];
    // Anonymous on purpose: the people who click the link have no identity of ours. The
    // link's HMAC signature is what stops anyone changing someone else's preferences.
    const app = this.functionApp(
      name,
      spec.bundle,
      {
        identity,
        instances: FLEX_MIN_INSTANCES,
        callsPerInstance: 1,
        timeoutSeconds: 30,
        memoryMb: 512,
        settings: { ...this.storeSettings(spec.stores), ...keyVaultReferences([{ setting: AZURE_ENV.unsubscribeSecret, secret: key }]) },
      },
      { ...opts, dependsOn: grants },
    );
    return { url: pulumi.interpolate`https://${app.defaultHostName}/unsubscribe` };
  }

  /**
   * Nothing to declare: on Azure the trigger is part of the function's code (a v4
   * `app.serviceBusQueue` on the queue its app settings name), set up by `function`.
   */
  trigger(_name: string, _queue: QueueHandle, _fn: FunctionHandle, _consumer: ConsumerTopology, _opts: pulumi.CustomResourceOptions): void {}

  queueAlarms(name: string, queue: QueueHandle, consumer: ConsumerTopology, target: AlarmTargetHandle, _ageSeconds: number, opts: pulumi.CustomResourceOptions): void {
    const { group, namespace } = this.base(opts);
    const { queue: entity, rejected } = queue as AzureQueue;
    const actions = target.address.apply((address) => (address ? [{ actionGroupId: address }] : []));
    const alert = (suffix: string, metricName: string, entities: pulumi.Input<string>[], threshold: number, windowSize: string, description: string) =>
      new monitor.MetricAlert(
        `${name}-${suffix}`,
        {
          resourceGroupName: group.name,
          location: "global",
          description: `herald ${consumer.name}: ${description}`,
          enabled: true,
          severity: suffix === "backlog" ? 2 : 1,
          scopes: [namespace.id],
          evaluationFrequency: "PT1M",
          windowSize,
          criteria: {
            odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            allOf: [
              {
                criterionType: "StaticThresholdCriterion",
                name: metricName,
                metricName,
                metricNamespace: "Microsoft.ServiceBus/namespaces",
                operator: "GreaterThan",
                threshold,
                timeAggregation: "Maximum",
                // One alert per entity: the namespace metric split by the queue's name.
                dimensions: [{ name: "EntityName", operator: "Include", values: entities }],
              },
            ],
          },
          actions,
        },
        opts,
      );
    alert("dlq-depth", "DeadletteredMessages", [entity.name, ...(rejected ? [rejected.name] : [])], 0, "PT5M", "messages in the dead-letter queue");
    alert("backlog", "ActiveMessages", [entity.name], BACKLOG_ALARM_MESSAGES, "PT15M", `more than ${BACKLOG_ALARM_MESSAGES} messages waiting for 15 minutes`);
    // Nothing consumes the rejected-events queue: any message in it is a dead letter.
    if (rejected) alert("rejected", "ActiveMessages", [rejected.name], 0, "PT5M", "events refused by validation are waiting in the rejected queue");
  }

  /** The resource group, namespace, storage account and vault every other resource lives in. */
  private base(opts: pulumi.CustomResourceOptions): Shared {
    if (this.shared) return this.shared;
    const location = this.options.location;
    const group = new resources.ResourceGroup("herald", { location }, opts);
    const namespace = new servicebus.Namespace(
      "herald-bus",
      // Standard: topics and duplicate detection. Local (SAS key) auth off: identities only.
      { resourceGroupName: group.name, location, sku: { name: "Standard", tier: "Standard" }, disableLocalAuth: true, minimumTlsVersion: "1.2" },
      opts,
    );
    const account = new storage.StorageAccount(
      "heraldstore",
      {
        resourceGroupName: group.name,
        location,
        kind: "StorageV2",
        sku: { name: "Standard_LRS" },
        // No account keys: the functions and the host reach tables and blobs with their identities.
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        allowBlobPublicAccess: false,
        enableHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
      },
      opts,
    );
    const vault = new keyvault.Vault(
      "herald-kv",
      {
        resourceGroupName: group.name,
        location,
        properties: {
          tenantId: this.client.tenantId,
          sku: { family: "A", name: "standard" },
          // Access by role assignments (scoped per secret below), not vault-wide access policies.
          enableRbacAuthorization: true,
          enableSoftDelete: true,
          softDeleteRetentionInDays: 7,
          enablePurgeProtection: true,
        },
      },
      opts,
    );
    this.shared = { group, namespace, account, vault };
    return this.shared;
  }

  private identity(name: string, opts: pulumi.CustomResourceOptions): managedidentity.UserAssignedIdentity {
    const { group } = this.base(opts);
    return new managedidentity.UserAssignedIdentity(name, { resourceGroupName: group.name, location: this.options.location }, opts);
  }

  private grant(name: string, identity: managedidentity.UserAssignedIdentity, role: string, scope: pulumi.Input<string>, opts: pulumi.CustomResourceOptions): authorization.RoleAssignment {
    return new authorization.RoleAssignment(
      name,
      {
        principalId: identity.principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: pulumi.interpolate`/subscriptions/${this.client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
        scope,
      },
      opts,
    );
  }

  private storeGrants(name: string, identity: managedidentity.UserAssignedIdentity, stores: FunctionSpec["access"]["stores"], opts: pulumi.CustomResourceOptions): pulumi.Resource[] {
    const { account } = this.base(opts);
    return stores.map(({ store, access }) =>
      this.grant(
        `${name}-${access === "read" ? "reads" : "writes"}-${store.kind}`,
        identity,
        access === "read" ? AZURE_ROLES.tableDataReader : AZURE_ROLES.tableDataContributor,
        pulumi.interpolate`${account.id}/tableServices/default/tables/${(store as AzureStore).table.name}`,
        opts,
      ),
    );
  }

  private storeSettings(stores: FunctionSpec["access"]["stores"]): Record<string, pulumi.Input<string>> {
    const { account } = this.shared!;
    return {
      [AZURE_ENV.tablesEndpoint]: pulumi.interpolate`https://${account.name}.table.core.windows.net`,
      ...Object.fromEntries(stores.map(({ store }) => [store.kind === "idempotency" ? AZURE_ENV.idempotencyTable : AZURE_ENV.recipientsTable, store.name])),
    };
  }

  private functionApp(
    name: string,
    bundle: FunctionBundle,
    settings: {
      identity: managedidentity.UserAssignedIdentity;
      instances: number;
      callsPerInstance: number;
      timeoutSeconds: number;
      memoryMb: number;
      settings: Record<string, pulumi.Input<string>>;
    },
    opts: pulumi.CustomResourceOptions,
  ): web.WebApp {
    const { group, account } = this.base(opts);
    const { identity } = settings;
    // Flex Consumption: one app per plan.
    const plan = new web.AppServicePlan(name, { resourceGroupName: group.name, location: this.options.location, kind: "functionapp", reserved: true, sku: { name: "FC1", tier: "FlexConsumption" } }, opts);
    const container = new storage.BlobContainer(name, { resourceGroupName: group.name, accountName: account.name, publicAccess: "None" }, opts);
    // The Functions host creates containers of its own (azure-webjobs-hosts, -secrets) for
    // locks and keys, so its blob role has to be on the account: the narrowest it allows.
    // Blobs hold only code and host state; tables and secrets need roles of their own.
    const hostStorage = this.grant(`${name}-host-storage`, identity, AZURE_ROLES.blobDataOwner, account.id, opts);
    // The name Flex Consumption's one-deploy gives the package it runs.
    const zip = new storage.Blob(
      name,
      { resourceGroupName: group.name, accountName: account.name, containerName: container.name, blobName: "released-package.zip", type: "Block", contentType: "application/zip", source: codeArchive(bundle, settings) },
      opts,
    );
    return new web.WebApp(
      name,
      {
        resourceGroupName: group.name,
        location: this.options.location,
        kind: "functionapp,linux",
        serverFarmId: plan.id,
        httpsOnly: true,
        identity: { type: "UserAssigned", userAssignedIdentities: [identity.id] },
        keyVaultReferenceIdentity: identity.id,
        functionAppConfig: {
          deployment: {
            storage: {
              type: "blobContainer",
              value: pulumi.interpolate`${account.primaryEndpoints.blob}${container.name}`,
              authentication: { type: "UserAssignedIdentity", userAssignedIdentityResourceId: identity.id },
            },
          },
          runtime: { name: "node", version: "22" },
          scaleAndConcurrency: { maximumInstanceCount: settings.instances, instanceMemoryMB: flexMemory(settings.memoryMb) },
        },
        siteConfig: {
          minTlsVersion: "1.2",
          ftpsState: "Disabled",
          appSettings: Object.entries({
            AzureWebJobsStorage__accountName: account.name,
            AzureWebJobsStorage__credential: "managedidentity",
            AzureWebJobsStorage__clientId: identity.clientId,
            [AZURE_ENV.identityClientId]: identity.clientId,
            NODE_OPTIONS: "--enable-source-maps",
            // Changes with the code, so a new package restarts the app onto it.
            HERALD_CODE_SHA256: bundle.sha256,
            ...settings.settings,
          }).map(([key, value]) => ({ name: key, value })),
        },
      },
      { ...opts, dependsOn: [...toArray(opts.dependsOn), hostStorage, zip] },
    );
  }
}

/** Flex Consumption instance sizes: 512, 2048 or 4096 MB; the smallest that holds `memoryMb`. */
function flexMemory(memoryMb: number): number {
  return [512, 2048, 4096].find((size) => size >= memoryMb) ?? 4096;
}

/** Instances and calls per instance for a cap, within Flex Consumption's instance bounds. */
export function scaleFor(cap: number): { instances: number; callsPerInstance: number } {
  const instances = Math.min(FLEX_MAX_INSTANCES, Math.max(FLEX_MIN_INSTANCES, cap));
  return { instances, callsPerInstance: Math.max(1, Math.floor(cap / instances)) };
}

/** One send plus the longest abandon hold, with a margin; at most Service Bus's 5 minutes. */
function lockSeconds(consumer: ConsumerTopology): number {
  return Math.min(MAX_LOCK_SECONDS, Math.ceil((consumer.timeoutMs + MAX_HOLD_MS) / 1000) + 10);
}

function entityAddress(namespace: servicebus.Namespace, entity: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.interpolate`${namespace.name}.servicebus.windows.net/${entity}`;
}

/** App settings whose values the platform resolves from Key Vault with the app's identity. */
function keyVaultReferences(secrets: ReadonlyArray<{ setting: string; secret: AzureSecret }>): Record<string, pulumi.Output<string>> {
  return Object.fromEntries(secrets.map(({ setting, secret }) => [setting, pulumi.interpolate`@Microsoft.KeyVault(SecretUri=${secret.uri})`]));
}

function toArray(dependsOn: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (!dependsOn) return [];
  return Array.isArray(dependsOn) ? dependsOn : [dependsOn as pulumi.Input<pulumi.Resource>];
}

/**
 * The app's package: the bundle (its v4 registrations run at load), its map, a
 * package.json naming it, and host.json with the per-instance concurrency and timeout.
 */
function codeArchive(bundle: FunctionBundle, settings: { callsPerInstance: number; timeoutSeconds: number }): pulumi.asset.AssetArchive {
  const host = {
    version: "2.0",
    functionTimeout: new Date(settings.timeoutSeconds * 1000).toISOString().slice(11, 19),
    extensionBundle: { id: "Microsoft.Azure.Functions.ExtensionBundle", version: "[4.*, 5.0.0)" },
    extensions: {
      // One message per call, this many calls per instance: with maximumInstanceCount, the cap.
      serviceBus: { maxConcurrentCalls: settings.callsPerInstance, maxConcurrentSessions: 1, prefetchCount: 0 },
      // The unsubscribe link's path is the function's route, with no /api prefix.
      http: { routePrefix: "" },
    },
    logging: { logLevel: { default: "Information" } },
  };
  return new pulumi.asset.AssetArchive({
    "index.js": new pulumi.asset.StringAsset(bundle.code),
    "index.js.map": new pulumi.asset.StringAsset(bundle.sourceMap),
    "host.json": new pulumi.asset.StringAsset(`${JSON.stringify(host, null, 2)}\n`),
    "package.json": new pulumi.asset.StringAsset(`${JSON.stringify({ name: `herald-${bundle.consumer}`, private: true, main: "index.js" }, null, 2)}\n`),
  });
}
