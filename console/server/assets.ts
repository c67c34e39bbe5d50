/**
 * The console's page, bundled by esbuild when first asked for and kept in memory: no
 * build step, no generated file in the repository, nothing fetched from the network.
 * The page validates events with the same `parseEvent` and schema set as ingest, with
 * the validators compiled here to standalone code, because the page's CSP forbids
 * `eval` (Ajv compiles schemas with `new Function`).
 */
import { join, resolve } from "node:path";
import standaloneCode from "ajv/dist/standalone";
import { build, type Plugin } from "esbuild";
import { createAjv, schemaSources } from "../../handlers/core/schema-registry";
import type { SchemaSet } from "../../handlers/core/schema-set";

export interface ConsoleAssets {
  readonly js: string;
  readonly css: string;
}

const ROOT = resolve(__dirname, "..", "..");
const APP = join(ROOT, "console", "app");

/** Module the page imports its validators and schema set from (`import { validators, schemas } from "herald:validators"`). */
const VALIDATORS_MODULE = "herald:validators";

/**
 * Ajv's compiler and the formats plugin are what the precompiled validators replace; the
 * page never constructs them, so they are left out of the bundle (a third of its size).
 */
const COMPILER_MODULES = /^(ajv\/dist\/2020|ajv-formats)$/;

/** Bundles the page (JS and CSS) for a schema set. Takes about a second; call once and keep the promise. */
export async function bundleConsole(schemas: SchemaSet): Promise<ConsoleAssets> {
  const result = await build({
    entryPoints: { app: join(APP, "main.tsx") },
    bundle: true,
    write: false,
    outdir: "/console-bundle",
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
    // core's envelope code measures sizes with Buffer.byteLength; the page has TextEncoder.
    inject: [join(APP, "buffer-shim.ts")],
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [validatorsPlugin(schemas)],
  });
  const js = result.outputFiles.find((file) => file.path.endsWith(".js"));
  const css = result.outputFiles.find((file) => file.path.endsWith(".css"));
  if (!js || !css) throw new Error("console bundle is missing its script or stylesheet");
  return { js: js.text, css: css.text };
}

function validatorsPlugin(schemas: SchemaSet): Plugin {
  return {
    name: "herald-console",
    setup(builder) {
      builder.onResolve({ filter: /^herald:validators$/ }, () => ({ path: VALIDATORS_MODULE, namespace: "herald" }));
      builder.onResolve({ filter: COMPILER_MODULES }, (args) => ({ path: args.path, namespace: "herald-stub" }));
      builder.onLoad({ filter: /.*/, namespace: "herald-stub" }, () => ({
        contents: 'export default function unavailable() { throw new Error("the console compiles no schemas; its validators are precompiled"); }',
        loader: "js",
      }));
      builder.onLoad({ filter: /.*/, namespace: "herald" }, () => ({ contents: validatorsSource(schemas), loader: "js", resolveDir: ROOT }));
    },
  };
}

/**
 * ES module source: `validators` (`{ "<schema id>": validate, ... }`, in the same
 * configuration as the runtime's registry) and `schemas`, the runtime's schema set; both
 * without the channel message schemas, which only the rules stage checks.
 */
export function validatorsSource(all: SchemaSet): string {
  const schemas: SchemaSet = { ...all, messages: {} };
  const ajv = createAjv("fast", { checkSchemas: false, standaloneCode: true });
  const sources = schemaSources(schemas);
  const exports: Record<string, string> = {};
  sources.forEach(([id, schema], index) => {
    ajv.addSchema(schema as object, id);
    exports[`v${index}`] = id;
  });
  const code = standaloneCode(ajv, exports);
  const table = sources.map(([id], index) => `${JSON.stringify(id)}: v${index}`).join(", ");
  return `${code}\nexport const validators = { ${table} };\nexport const schemas = ${JSON.stringify(schemas)};\n`;
}
