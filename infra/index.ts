/**
 * The Pulumi program (`main` in Pulumi.yaml). Wiring only: read the stack config, build
 * the fan-out for the chosen cloud, export what operators and publishers need.
 */
import * as pulumi from "@pulumi/pulumi";
import { schemaSet } from "../schemas/generated/schema-set";
import { readStackConfig } from "./config";

const stackConfig = readStackConfig((key) => new pulumi.Config("herald").get(key));

export const cloud = stackConfig.cloud;
/** Event types (and their versions) this deployment accepts: what publishers may send. */
export const eventTypes = Object.fromEntries(
  Object.entries(schemaSet.events).map(([type, entry]) => [type, Object.keys(entry.versions).map(Number)]),
);
