/**
 * The page validates with standalone validators generated from the schema set (its CSP
 * forbids Ajv's `new Function`); they must judge every event exactly as ingest's registry
 * does: same verdict, same code, same issues.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ValidateFunction } from "ajv";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { validatorsSource } from "../../console/server/assets";
import { parseEvent } from "../../handlers/core/envelope";
import { ValidationError } from "../../handlers/core/errors";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { schemaSet } from "../../schemas/generated/schema-set";
import { shippedExamples } from "../support/local-runtime";

async function standaloneRegistry(): Promise<SchemaRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "herald-validators-"));
  try {
    // Bundled as the page's bundle is (the generated code requires Ajv's runtime helpers).
    const result = await build({ stdin: { contents: validatorsSource(schemaSet), resolveDir: process.cwd(), loader: "js" }, bundle: true, write: false, format: "cjs", platform: "node", logLevel: "silent" });
    const file = join(dir, "validators.cjs");
    writeFileSync(file, result.outputFiles[0]!.text);
    const module = require(file) as { validators: Readonly<Record<string, ValidateFunction>>; schemas: typeof schemaSet };
    expect(Object.keys(module.schemas.messages)).toEqual([]);
    return new SchemaRegistry(module.schemas, { precompiled: module.validators });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function verdict(text: string, registry: SchemaRegistry): unknown {
  try {
    const { event, version } = parseEvent(text, registry);
    return { accepted: `${event.type} v${version}` };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return { code: error.code, message: error.message, issues: error.issues };
  }
}

describe("the console's precompiled validators", () => {
  it("agree with ingest's registry on every example and on broken variants of each", async () => {
    const page = await standaloneRegistry();
    const ingest = new SchemaRegistry(schemaSet);
    const cases: string[] = [];
    for (const { event } of shippedExamples()) {
      cases.push(JSON.stringify(event));
      cases.push(JSON.stringify({ ...event, data: { ...event.data, unexpected: true } }));
      cases.push(JSON.stringify({ ...event, data: {} }));
      cases.push(JSON.stringify({ ...event, time: "yesterday" }));
      // Right shape, no such day: only "full" format checking refuses it, so this pins the mode.
      cases.push(JSON.stringify({ ...event, time: "2026-02-30T10:00:00Z" }));
      cases.push(JSON.stringify({ ...event, specversion: "0.3" }));
      cases.push(JSON.stringify({ ...event, dataschema: event.dataschema.replace(/v\d+\.schema/, "v99.schema") }));
      cases.push(JSON.stringify(event).slice(0, -1));
    }
    let accepted = 0;
    for (const text of cases) {
      const expected = verdict(text, ingest);
      expect(verdict(text, page), text.slice(0, 120)).toEqual(expected);
      if ((expected as { accepted?: string }).accepted) accepted += 1;
    }
    // Both outcomes were exercised: every example accepted (with and without a real date), every other variant refused.
    expect(accepted).toBe(2 * shippedExamples().length);
  });
});
