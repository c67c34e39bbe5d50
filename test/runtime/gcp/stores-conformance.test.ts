/**
 * The Firestore stores pass the same conformance suites as the in-memory, SQLite and
 * DynamoDB ones, against the Firestore emulator: create() preconditions, transactions
 * (takeover of a lapsed claim, contended frequency windows, recipient + index changes)
 * and ordered, paged queries.
 */
import { afterAll, beforeAll } from "vitest";
import { Firestore } from "@google-cloud/firestore";
import { FirestoreDirectory } from "../../../handlers/runtime/gcp/firestore-directory";
import { FirestoreFrequencyLimiter, FirestoreIdempotencyStore } from "../../../handlers/runtime/gcp/firestore-idempotency";
import { startFirestoreEmulator, TEST_PROJECT, type GcpEmulator } from "../../support/gcp-emulators";
import { describeDirectoryConformance } from "../conformance/directory";
import { uniqueKey } from "../conformance/fixture";
import { describeFrequencyLimiterConformance } from "../conformance/frequency-limiter";
import { describeIdempotencyConformance } from "../conformance/idempotency";
import { firestoreClient } from "./gcp-fixture";

let emulator: GcpEmulator;
let firestore: Firestore;

beforeAll(async () => {
  emulator = await startFirestoreEmulator();
  firestore = firestoreClient(emulator, TEST_PROJECT);
});
afterAll(async () => {
  await firestore?.terminate();
  await emulator?.stop();
});

// A fresh collection (name) per test: the directory suite lists everything in it.
describeIdempotencyConformance("firestore", () => ({ store: new FirestoreIdempotencyStore(firestore, uniqueKey("idempotency")) }));
describeDirectoryConformance("firestore", () => ({ store: new FirestoreDirectory(firestore, uniqueKey("recipients")) }));
describeFrequencyLimiterConformance("firestore", () => ({ store: new FirestoreFrequencyLimiter(firestore, uniqueKey("idempotency")) }));
