/**
 * The DynamoDB stores pass the same conformance suites as the in-memory and SQLite ones,
 * against DynamoDB as moto_server plays it: conditional puts, updates and deletes,
 * ReturnValuesOnConditionCheckFailure, string sets and transactions, all through the
 * shims' own AWS client (tables are made with the SDK).
 */
import { afterAll, beforeAll } from "vitest";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { AwsApi } from "../../../handlers/runtime/aws/aws-json-client";
import { DynamoDirectory } from "../../../handlers/runtime/aws/dynamo-directory";
import { DynamoFrequencyLimiter, DynamoIdempotencyStore } from "../../../handlers/runtime/aws/dynamo-idempotency";
import { startMoto, type MotoServer } from "../../support/moto";
import { describeDirectoryConformance } from "../conformance/directory";
import { uniqueKey } from "../conformance/fixture";
import { describeFrequencyLimiterConformance } from "../conformance/frequency-limiter";
import { describeIdempotencyConformance } from "../conformance/idempotency";
import { createTable, motoAwsClient } from "./aws-fixture";

let moto: MotoServer;
let dynamodb: DynamoDBClient;
let api: AwsApi;

beforeAll(async () => {
  moto = await startMoto();
  dynamodb = new DynamoDBClient(moto.clientConfig);
  api = motoAwsClient(moto, "dynamodb");
});
afterAll(async () => {
  dynamodb?.destroy();
  await moto?.stop();
});

/** A fresh table per test (the directory suite lists everything in it), dropped after. */
async function freshTable(label: string) {
  return createTable(dynamodb, uniqueKey(label));
}

describeIdempotencyConformance("dynamodb", async () => {
  const table = await freshTable("idempotency");
  return { store: new DynamoIdempotencyStore(api, table.name), dispose: table.drop };
});

describeDirectoryConformance("dynamodb", async () => {
  const table = await freshTable("recipients");
  return { store: new DynamoDirectory(api, table.name), dispose: table.drop };
});

describeFrequencyLimiterConformance("dynamodb", async () => {
  const table = await freshTable("idempotency");
  return { store: new DynamoFrequencyLimiter(api, table.name), dispose: table.drop };
});
