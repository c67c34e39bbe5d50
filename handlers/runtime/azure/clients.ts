/**
 * The clients a function builds for itself from its app settings, once per instance:
 * Table Storage tables and the Service Bus client.
 */
import type { TableClient } from "@azure/data-tables";
import { ServiceBusClient } from "@azure/service-bus";
import type { ConfigSource } from "../../core/ports";
import { AZURE_ENV, requiredEnv } from "./env";
import type { ServiceBusPort } from "./sender";
import { tableClientFor } from "./table-keys";

/** The table named by the app setting `tableSetting`, in the account of `HERALD_TABLES_CONNECTION`. */
export function tableFromEnv(env: ConfigSource, tableSetting: string): TableClient {
  return tableClientFor(requiredEnv(env, AZURE_ENV.tablesConnection), requiredEnv(env, tableSetting));
}

/** The Service Bus client on `HERALD_SERVICE_BUS` (a connection string), the one the triggers use too. */
export function serviceBusFromEnv(env: ConfigSource): ServiceBusPort & { close(): Promise<void> } {
  return new ServiceBusClient(requiredEnv(env, AZURE_ENV.serviceBusConnection));
}
