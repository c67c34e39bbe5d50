/**
 * What a conformance suite needs from a store under test: a fresh, empty store per test
 * and, optionally, a way to dispose of it. Cloud stores (DynamoDB, Firestore, Table
 * Storage against their emulators) reuse the suites with their own factory.
 */
export interface StoreFixture<S> {
  readonly store: S;
  readonly dispose?: () => void | Promise<void>;
}

export type StoreFactory<S> = () => StoreFixture<S> | Promise<StoreFixture<S>>;

/** A unique prefix, so suites also pass against a table shared between tests. */
export function uniqueKey(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`;
}
