/**
 * The platform for the stack's cloud, and the provider settings its resources need.
 */
import * as pulumi from "@pulumi/pulumi";
import { Provider as AwsProvider } from "@pulumi/aws/provider";
import { AwsPlatform } from "./aws/platform";
import { AzurePlatform } from "./azure/platform";
import { GcpPlatform } from "./gcp/platform";
import { StackConfigError, type HeraldStackConfig } from "./config";
import type { Platform } from "./platform";

export function createPlatform(config: HeraldStackConfig): { platform: Platform; resourceOptions: pulumi.ComponentResourceOptions } {
  switch (config.cloud) {
    case "aws":
      return {
        platform: new AwsPlatform({ logRetentionDays: config.logRetentionDays }),
        // herald:region wins over aws:region, so one stack file can say where everything goes.
        resourceOptions: config.region ? { providers: { aws: new AwsProvider("herald-aws", { region: config.region }) } } : {},
      };
    case "gcp":
      return { platform: new GcpPlatform({ region: requiredRegion(config) }), resourceOptions: {} };
    case "azure":
      return { platform: new AzurePlatform({ location: requiredRegion(config) }), resourceOptions: {} };
  }
}

/** Where GCP and Azure stacks go: herald:region, else the provider's own setting; checked with the rest of the config. */
export function requiredRegion(config: HeraldStackConfig): string {
  const provider = { aws: { namespace: "aws", key: "region", example: "eu-west-1" }, gcp: { namespace: "gcp", key: "region", example: "europe-west1" }, azure: { namespace: "azure-native", key: "location", example: "westeurope" } }[config.cloud];
  const region = config.region ?? new pulumi.Config(provider.namespace).get(provider.key);
  if (!region) {
    const cloud = config.cloud === "gcp" ? "GCP" : config.cloud === "azure" ? "Azure" : "AWS";
    throw new StackConfigError("herald:region", `${cloud} needs a ${provider.key}: pulumi config set ${provider.namespace}:${provider.key} ${provider.example} (or herald:region)`);
  }
  return region;
}
