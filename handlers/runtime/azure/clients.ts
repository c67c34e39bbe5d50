/**
 * The clients a function builds for itself from its app settings, once per instance:
 * Table Storage tables and the Service Bus client. In the cloud both authenticate with
 * the app's managed identity (the stack turns shared keys off); a connection string is
 * accepted too, for Azurite and for running a shim by hand.
 */
import { TableClient } from "@azure/data-tables";
import { ServiceBusClient } from "@azure/service-bus";
import { ConfigError } from "../../core/errors";
import type { ConfigSource } from "../../core/ports";
import { AZURE_ENV, requiredEnv } from "./env";
import { ManagedIdentityCredential } from "./managed-identity";
import type { ServiceBusPort } from "./sender";
import { tableClientFor } from "./table-keys";

/** The table named by the app setting `tableSetting`, in the account the settings name. */
export function tableFromEnv(env: ConfigSource, tableSetting: string): TableClient {
  const table = requiredEnv(env, tableSetting);
  const endpoint = env[AZURE_ENV.tablesEndpoint];
  if (endpoint) return new TableClient(endpoint, table, identityOf(env));
  return tableClientFor(requiredEnv(env, AZURE_ENV.tablesConnection), table);
}

/** The Service Bus client on the connection the triggers use too (`HERALD_SERVICE_BUS`). */
export function serviceBusFromEnv(env: ConfigSource): ServiceBusPort & { close(): Promise<void> } {
  const namespace = env[AZURE_ENV.serviceBusNamespace];
  if (namespace) return new ServiceBusClient(namespace, identityOf(env));
  return new ServiceBusClient(requiredEnv(env, AZURE_ENV.serviceBusConnection));
}

const credentials = new Map<string, ManagedIdentityCredential>();

/** One credential per identity, so its token cache is shared by the tables and the bus. */
function identityOf(env: ConfigSource): ManagedIdentityCredential {
  const clientId = env[AZURE_ENV.identityClientId];
  if (!clientId) throw new ConfigError("config-missing", `${AZURE_ENV.identityClientId} is not set: identity-based connections need the identity's client id`);
  let credential = credentials.get(clientId);
  if (!credential) {
    credential = new ManagedIdentityCredential(env, clientId);
    credentials.set(clientId, credential);
  }
  return credential;
}
