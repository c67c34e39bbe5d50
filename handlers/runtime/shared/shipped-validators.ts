/**
 * The shipped schema set's validators, compiled ahead of time and keyed by schema id,
 * when a function bundle brings them: its entry registers Ajv's standalone code for the
 * same schemas and configuration (infra/bundle.ts) before any invocation, so a cold start
 * compiles no schema and the bundle carries no schema compiler. From source none are
 * registered, and the registry compiles each schema with Ajv on first use.
 */
import type { ValidateFunction } from "ajv";

let registered: Readonly<Record<string, ValidateFunction>> | undefined;

/** Called by a bundle's entry with its precompiled validators. */
export function registerShippedValidators(validators: Readonly<Record<string, ValidateFunction>>): void {
  registered = validators;
}

/** The precompiled validators of the shipped schema set, if this bundle brought them. */
export function shippedValidators(): Readonly<Record<string, ValidateFunction>> | undefined {
  return registered;
}
