import { InMemoryDirectory } from "../../../handlers/core/in-memory-directory";
import { InMemoryIdempotencyStore } from "../../../handlers/core/in-memory-idempotency";
import { InMemoryFrequencyLimiter } from "../../../handlers/core/policies";
import { SqliteDirectory, SqliteFrequencyLimiter, SqliteIdempotencyStore } from "../../../handlers/runtime/local/sqlite-stores";
import { describeDirectoryConformance } from "../conformance/directory";
import { describeFrequencyLimiterConformance } from "../conformance/frequency-limiter";
import { describeIdempotencyConformance } from "../conformance/idempotency";
import { tempDatabase } from "./temp-database";

describeIdempotencyConformance("in-memory", () => ({ store: new InMemoryIdempotencyStore() }));
describeIdempotencyConformance("sqlite", () => {
  const { db, dispose } = tempDatabase();
  return { store: new SqliteIdempotencyStore(db), dispose };
});

describeDirectoryConformance("in-memory", () => ({ store: new InMemoryDirectory() }));
describeDirectoryConformance("sqlite", () => {
  const { db, dispose } = tempDatabase();
  return { store: new SqliteDirectory(db), dispose };
});

describeFrequencyLimiterConformance("in-memory", () => ({ store: new InMemoryFrequencyLimiter() }));
describeFrequencyLimiterConformance("sqlite", () => {
  const { db, dispose } = tempDatabase();
  return { store: new SqliteFrequencyLimiter(db), dispose };
});
