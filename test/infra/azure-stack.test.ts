/**
 * The Azure stack under Pulumi mocks (Azure Resource Manager cannot run here): Service
 * Bus topic, forwarding subscription and queues with their dead-letter settings, one
 * Flex Consumption app per function with its own identity and cap, entity-scoped role
 * assignments, Key Vault references, metric alerts, and the guardrails on all of it.
 */
import { describe, expect, it } from "vitest";
import { channels } from "../../handlers/channels";
import { AZURE_ROLES, FLEX_MIN_INSTANCES } from "../../infra/azure/platform";
import { checkGuardrails } from "../../infra/policy/rules";
import { previewProgram, type PreviewResource, type PreviewResult } from "../../infra/preview";
import { declareStack, planStack } from "../../infra/stack";
import { pager } from "./fixtures/pager-channel";
import { asStackResources, previewStack, SECRET_KEYS } from "./fixtures/stack-preview";

const stack = (config: Record<string, unknown> = {}, options: { pager?: boolean } = {}): Promise<PreviewResult> => previewStack({ "herald:cloud": "azure", "herald:region": "westeurope" }, config, options);

const ofType = (result: PreviewResult, type: string) => result.resources.filter((r) => r.type === `azure-native:${type}`);
const named = (result: PreviewResult, type: string, name: string): PreviewResource => {
  const found = ofType(result, type).find((r) => r.name === name);
  if (!found) throw new Error(`no azure-native:${type} named ${name}; have ${ofType(result, type).map((r) => r.name).join(", ")}`);
  return found;
};
const settingsOf = (result: PreviewResult, app: string): Record<string, string> =>
  Object.fromEntries(((named(result, "web:WebApp", app).inputs as any).siteConfig.appSettings as Array<{ name: string; value: string }>).map((s) => [s.name, s.value]));
const rolesOf = (result: PreviewResult, principal: string) =>
  ofType(result, "authorization:RoleAssignment")
    .filter((r) => r.inputs.principalId === `principal-${principal}`)
    .map((r) => ({ role: String(r.inputs.roleDefinitionId).split("/").pop(), scope: String(r.inputs.scope) }));
/** host.json as the app's package carries it (the preview shows small JSON files in full). */
const hostJson = (result: PreviewResult, app: string) => (named(result, "storage:Blob", app).inputs as any).source.settings["host.json"];

describe("the Azure stack under mocks", { timeout: 60_000 }, () => {
  let defaults: PreviewResult;

  it("forwards the entry topic into the rules queue; every queue dead-letters and detects duplicates", async () => {
    defaults = await stack({ alarmEmail: "oncall@example.com", channels: { sms: { maxAttempts: 3 } } });
    const subscription = named(defaults, "servicebus:Subscription", "herald-rules").inputs as any;
    expect(subscription.topicName).toBe(named(defaults, "servicebus:Topic", "herald-events").identifiers.name);
    expect(subscription.forwardTo).toBe(named(defaults, "servicebus:Queue", "herald-rules").identifiers.name);
    expect(subscription.deadLetteringOnMessageExpiration).toBe(true);
    for (const consumer of ["rules", "email", "push", "sms"]) {
      const queue = named(defaults, "servicebus:Queue", `herald-${consumer}`).inputs as any;
      expect(queue).toMatchObject({ requiresDuplicateDetection: true, deadLetteringOnMessageExpiration: true });
      // The lock outlasts one send plus the longest abandon hold (20 s).
      expect(Number(/^PT(\d+)S$/.exec(queue.lockDuration)![1])).toBeGreaterThanOrEqual(30);
    }
    expect((named(defaults, "servicebus:Queue", "herald-sms").inputs as any).maxDeliveryCount).toBe(3);
    expect((named(defaults, "servicebus:Namespace", "herald-bus").inputs as any)).toMatchObject({ sku: { name: "Standard", tier: "Standard" }, disableLocalAuth: true });
  });

  it("runs each function as its own Flex Consumption app, capped by instances x maxConcurrentCalls, reporting caps below Flex's floor", async () => {
    const apps = ofType(defaults, "web:WebApp").map((a) => a.name).sort();
    expect(apps).toEqual(["herald-email", "herald-push", "herald-rules", "herald-sms"]);
    const custom = await stack({ channels: { push: { concurrency: 120 } } });
    const push = named(custom, "web:WebApp", "herald-push").inputs as any;
    const host = hostJson(custom, "herald-push");
    expect(push.functionAppConfig.scaleAndConcurrency.maximumInstanceCount * host.extensions.serviceBus.maxConcurrentCalls).toBe(120);
    expect(push.functionAppConfig.runtime).toEqual({ name: "node", version: "22" });
    // sms asks for 5; Flex Consumption cannot go below 40 instances: deployed as 40, said in the outputs.
    const sms = named(defaults, "web:WebApp", "herald-sms").inputs as any;
    expect(sms.functionAppConfig.scaleAndConcurrency.maximumInstanceCount).toBe(FLEX_MIN_INSTANCES);
    expect(defaults.outputs.effectiveConcurrency).toMatchObject({ sms: FLEX_MIN_INSTANCES, push: 50 });
    for (const app of ofType(defaults, "web:WebApp")) {
      expect((app.inputs as any).identity.userAssignedIdentities).toHaveLength(1);
      expect(named(defaults, "web:AppServicePlan", app.name).inputs).toMatchObject({ sku: { name: "FC1", tier: "FlexConsumption" } });
    }
  });

  it("grants Service Bus and Table roles on the entities each function uses, never on the namespace or account", async () => {
    const id = (type: string, name: string) => named(defaults, type, name).identifiers.id!;
    const email = rolesOf(defaults, "herald-email");
    expect(email).toContainEqual({ role: AZURE_ROLES.serviceBusDataReceiver, scope: id("servicebus:Queue", "herald-email") });
    expect(email).toContainEqual({ role: AZURE_ROLES.serviceBusDataSender, scope: id("servicebus:Queue", "herald-email") });
    expect(email.some((r) => r.scope === id("servicebus:Queue", "herald-sms"))).toBe(false);
    expect(email.some((r) => r.scope === id("servicebus:Namespace", "herald-bus"))).toBe(false);
    const rules = rolesOf(defaults, "herald-rules");
    const sendsTo = rules.filter((r) => r.role === AZURE_ROLES.serviceBusDataSender).map((r) => r.scope).sort();
    expect(sendsTo).toEqual(["email", "push", "rules-rejected", "sms"].map((q) => id("servicebus:Queue", `herald-${q}`)).sort());
    // Rules only read recipients; channels write them (suppressions, gone subscriptions).
    expect(rules).toContainEqual({ role: AZURE_ROLES.tableDataReader, scope: id("storage:Table", "herald-recipients") });
    expect(email).toContainEqual({ role: AZURE_ROLES.tableDataContributor, scope: id("storage:Table", "herald-recipients") });
    expect(checkGuardrails(asStackResources(defaults), SECRET_KEYS)).toEqual([]);
  });

  it("hands secrets over as Key Vault references read with the app's identity, never as plain settings", async () => {
    const withSecrets = await stack({ secrets: { TWILIO_AUTH_TOKEN: "tok-123", HERALD_UNSUBSCRIBE_SECRET: "sign-with-this" } });
    const sms = settingsOf(withSecrets, "herald-sms");
    expect(sms.HERALD_CHANNEL_SECRETS).toBe("@Microsoft.KeyVault(SecretUri=https://herald-kv.vault.azure.net/secrets/herald-sms)");
    expect(Object.keys(sms)).not.toContain("TWILIO_AUTH_TOKEN");
    expect(JSON.stringify(withSecrets)).not.toContain("tok-123");
    expect(JSON.stringify(withSecrets)).not.toContain("sign-with-this");
    expect((named(withSecrets, "web:WebApp", "herald-sms").inputs as any).keyVaultReferenceIdentity).toBe(named(withSecrets, "managedidentity:UserAssignedIdentity", "herald-sms").identifiers.id);
    expect(rolesOf(withSecrets, "herald-sms")).toContainEqual({ role: AZURE_ROLES.keyVaultSecretsUser, scope: named(withSecrets, "keyvault:Secret", "herald-sms").identifiers.id });
    expect(rolesOf(withSecrets, "herald-email").some((r) => r.role === AZURE_ROLES.keyVaultSecretsUser && r.scope.endsWith("/herald-sms"))).toBe(false);
    // The unsubscribe endpoint: an anonymous HTTP app whose URL the rules function signs links for.
    expect(settingsOf(withSecrets, "herald-rules").HERALD_UNSUBSCRIBE_BASE_URL).toBe("https://herald-unsubscribe.azurewebsites.net/unsubscribe");
    expect(withSecrets.outputs.unsubscribeUrl).toBe("https://herald-unsubscribe.azurewebsites.net/unsubscribe");
    expect(checkGuardrails(asStackResources(withSecrets), SECRET_KEYS)).toEqual([]);
  });

  it("alerts on every queue's dead-lettered messages, split by entity, to the action group", async () => {
    const group = named(defaults, "monitor:ActionGroup", "herald-alarms");
    expect((group.inputs as any).emailReceivers[0].emailAddress).toBe("oncall@example.com");
    for (const consumer of ["rules", "email", "push", "sms"]) {
      const alert = named(defaults, "monitor:MetricAlert", `herald-${consumer}-dlq-depth`).inputs as any;
      expect(alert.criteria.allOf[0]).toMatchObject({ metricName: "DeadletteredMessages", operator: "GreaterThan", threshold: 0 });
      const entities = [`herald-${consumer}`, ...(consumer === "rules" ? ["herald-rules-rejected"] : [])].map((q) => named(defaults, "servicebus:Queue", q).identifiers.name);
      expect(alert.criteria.allOf[0].dimensions).toEqual([{ name: "EntityName", operator: "Include", values: entities }]);
      expect(alert.actions).toEqual([{ actionGroupId: group.identifiers.id }]);
    }
    // Nothing consumes the rejected-events queue, so any message there raises an alert.
    expect((named(defaults, "monitor:MetricAlert", "herald-rules-rejected").inputs as any).criteria.allOf[0]).toMatchObject({ metricName: "ActiveMessages", threshold: 0 });
  });

  it("gives a fourth channel module its queue, app, identity, roles and alert", async () => {
    const withPager = await stack({}, { pager: true });
    named(withPager, "servicebus:Queue", "herald-pager");
    named(withPager, "web:WebApp", "herald-pager");
    named(withPager, "managedidentity:UserAssignedIdentity", "herald-pager");
    named(withPager, "monitor:MetricAlert", "herald-pager-dlq-depth");
    expect(settingsOf(withPager, "herald-rules").HERALD_QUEUE_PAGER).toBe(named(withPager, "servicebus:Queue", "herald-pager").identifiers.name);
    expect(checkGuardrails(asStackResources(withPager), SECRET_KEYS)).toEqual([]);
  });

  it("deploys each app's bundle with a host.json and the package name Flex Consumption runs", async () => {
    const blob = named(defaults, "storage:Blob", "herald-email").inputs as any;
    expect(blob.blobName).toBe("released-package.zip");
    expect(Object.keys(blob.source.archive).sort()).toEqual(["host.json", "index.js", "index.js.map", "package.json"]);
    expect(settingsOf(defaults, "herald-email").HERALD_CODE_SHA256).toMatch(/^[0-9a-f]{64}$/);
    const host = hostJson(defaults, "herald-email");
    expect(host.extensionBundle.id).toBe("Microsoft.Azure.Functions.ExtensionBundle");
    // One message per call at a time per instance: the cap is the instance count.
    expect(host.extensions.serviceBus.maxConcurrentCalls).toBe(1);
    expect(blob.source.settings["package.json"]).toMatchObject({ main: "index.js" });
  });

  it("fails early without a location", async () => {
    await expect(previewProgram({ "herald:cloud": "azure" }, () => planStack(channels), declareStack)).rejects.toThrow(/herald:region: Azure needs a location: pulumi config set azure-native:location/);
  });
});

