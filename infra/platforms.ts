/**
 * The platform for the stack's cloud, and the provider settings its resources need.
 */
import * as pulumi from "@pulumi/pulumi";
import { Provider as AwsProvider } from "@pulumi/aws/provider";
import { AwsPlatform } from "./aws/platform";
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
    case "gcp": {
      const region = config.region ?? new pulumi.Config("gcp").get("region");
      if (!region) throw new StackConfigError("herald:region", "GCP needs a region: pulumi config set gcp:region europe-west1 (or herald:region)");
      return { platform: new GcpPlatform({ region }), resourceOptions: {} };
    }
    case "azure":
      throw new StackConfigError("herald:cloud", `${config.cloud} is not deployable yet; aws and gcp are`);
  }
}
