/**
 * The DynamoDB stores pass the same conformance suites as the in-memory and SQLite ones,
 * against DynamoDB as moto_server plays it: conditional puts, updates and deletes,
 * ReturnValuesOnConditionCheckFailure, string sets and transactions.
 */
import { afterAll, beforeAll } from "vitest";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDirectory } from "../../../handlers/runtime/aws/dynamo-directory";
import { DynamoFrequencyLimiter, DynamoIdempotencyStore } from "../../../handlers/runtime/aws/dynamo-idempotency";
import { startMoto, type MotoServer } from "../../support/moto";
import { describeDirectoryConformance } from "../conformance/directory";
import { uniqueKey } from "../conformance/fixture";
import { describeFrequencyLimiterConformance } from "../conformance/frequency-limiter";
import { describeIdempotencyConformance } from "../conformance/idempotency";
import { createTable } from "./aws-fixture";

let moto: MotoServer;
let dynamodb: DynamoDBClient;

beforeAll(async () => {
  moto = await startMoto();
  dynamodb = new DynamoDBClient(moto.clientConfig);
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
  return { store: new DynamoIdempotencyStore(dynamodb, table.name), dispose: table.drop };
});

describeDirectoryConformance("dynamodb", async () => {
  const table = await freshTable("recipients");
  return { store: new DynamoDirectory(dynamodb, table.name), dispose: table.drop };
});

describeFrequencyLimiterConformance("dynamodb", async () => {
  const table = await freshTable("idempotency");
  return { store: new DynamoFrequencyLimiter(dynamodb, table.name), dispose: table.drop };
});
