/**
 * One esbuild bundle per function, built while the Pulumi program runs: the rules
 * function, and one per channel that imports only that channel's module, so each
 * carries its own delivery SDK and no other. Minified, with an external source map,
 * schemas compiled in (the generated schema set is a module), for the nodejs22 runtimes.
 *
 * Deterministic: paths are relative to the repository root and nothing time- or
 * machine-dependent goes in, so the same sources give the same bytes and an unchanged
 * deploy shows no diff.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { buildSync } from "esbuild";
import { standaloneValidatorsSource } from "../handlers/core/schema-standalone";
import { schemaSet } from "../schemas/generated/schema-set";

export const REPOSITORY_ROOT = resolve(__dirname, "..");

export interface FunctionBundle {
  readonly consumer: string;
  /** `index.js`: exports `handler`. */
  readonly code: string;
  /** `index.js.map`, without sources content (stack traces name files and lines). */
  readonly sourceMap: string;
  /** sha256 of the code, hex: names the uploaded object on clouds that store code by name. */
  readonly sha256: string;
  readonly bytes: number;
  /**
   * Packages left out of the bundle that the cloud's build installs from the function's
   * package.json (name to the exact version this repository pins). Empty on AWS, whose
   * runtime provides its SDK.
   */
  readonly dependencies: Readonly<Record<string, string>>;
}

export type BundleTarget = "aws" | "gcp" | "azure";

/** Where a channel module lives, when it does not follow `handlers/channels/<name>.ts` exporting `<name>`. */
export interface ChannelSource {
  readonly file: string;
  readonly exportName: string;
}

// Every channel module loads its SDK inside createSender (and readConfig); the rules
// function never sends, so the SDKs are left out of its bundle (a require of one would
// fail loudly). That includes libphonenumber-js's metadata (~280 KB the rules function
// would otherwise parse at every cold start without ever running it).
const CHANNEL_SDKS = ["nodemailer", "web-push", "twilio", "twilio/*", "http_ece", "libphonenumber-js", "libphonenumber-js/*"];

/**
 * Packages a cloud's runtime provides, left out of the bundle. None on AWS: the Lambda
 * shims make their SQS, DynamoDB and Secrets Manager calls with their own small client
 * (handlers/runtime/aws/aws-json-client.ts), not the AWS SDK v3 the nodejs22.x runtime
 * carries, whose three clients took ~160 ms of every cold start to load.
 */
const PLATFORM_SDKS: Readonly<Record<BundleTarget, readonly string[]>> = {
  aws: [],
  gcp: [],
  // Not a package: the Azure Functions Node worker provides it to @azure/functions at run time.
  azure: ["@azure/functions-core"],
};

/**
 * Cloud Functions builds each function from source with npm: the Google client libraries
 * (gRPC, protobuf descriptors loaded from files) stay out of the bundle, which would
 * otherwise be 4 MB, and are installed at the versions this repository pins.
 */
const INSTALLED_AT_DEPLOY: Readonly<Record<BundleTarget, readonly string[]>> = { aws: [], gcp: ["@google-cloud/firestore", "@google-cloud/pubsub"], azure: [] };

const cache = new Map<string, FunctionBundle>();

/** Forgets built bundles (a program builds each once; tests rebuild to prove determinism). */
export function clearBundleCache(): void {
  cache.clear();
}

/** The rules function's bundle for `target`. */
export function bundleRules(target: BundleTarget): FunctionBundle {
  return bundleShim(target, "rules");
}

/**
 * A function that is one shim (`handlers/runtime/<target>/<name>-handler.ts`), and sends
 * nothing. The rules function brings the shipped schemas' validators precompiled (see
 * {@link precompiledValidatorsEntry}) and no schema compiler.
 */
export function bundleShim(target: BundleTarget, name: "rules" | "unsubscribe"): FunctionBundle {
  const entry = join("handlers/runtime", target, `${name}-handler.ts`);
  const external = [...CHANNEL_SDKS, ...PLATFORM_SDKS[target], ...INSTALLED_AT_DEPLOY[target]];
  if (name !== "rules") return build(target, name, `export { handler } from "./${entry}";\n`, external);
  return build(target, name, `${precompiledValidatorsEntry()}export { handler } from "./${entry}";\n`, external, NO_SCHEMA_COMPILER);
}

/**
 * Ajv's compiler and the formats plugin, swapped for a stub in bundles whose validators
 * are precompiled: the registry never constructs them there (a third of the rules
 * bundle, and most of what it loaded at cold start besides the templates).
 */
export const NO_SCHEMA_COMPILER: Readonly<Record<string, string>> = { "ajv/dist/2020": "./infra/no-schema-compiler.ts", "ajv-formats": "./infra/no-schema-compiler.ts" };

/**
 * Entry code that registers the shipped schema set's validators as Ajv standalone code
 * (the same schemas and configuration as the runtime's registry), so a cold start
 * compiles no schema. The generated module is bundled
 * on its own first (its Ajv runtime helpers and formats inlined) and its exports dropped:
 * the function's module exports only `handler`.
 */
export function precompiledValidatorsEntry(): string {
  const result = buildSync({
    stdin: { contents: standaloneValidatorsSource(schemaSet), resolveDir: REPOSITORY_ROOT, sourcefile: "precompiled-validators.js", loader: "js" },
    absWorkingDir: REPOSITORY_ROOT,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    write: false,
    logLevel: "silent",
    mainFields: ["main", "module"],
  });
  const code = result.outputFiles[0]!.text;
  const exportList = /\nexport \{[^}]*\};\s*$/;
  if (!exportList.test(code)) throw new Error("precompiled validators: unexpected module shape (no trailing export list)");
  return [
    'import { registerShippedValidators } from "./handlers/runtime/shared/shipped-validators";',
    code.replace(exportList, "\n"),
    "registerShippedValidators(validators);",
    "",
  ].join("\n");
}

/** A channel function's bundle for `target`: the shim plus that channel's module only. */
export function bundleChannel(target: BundleTarget, channel: string, source: ChannelSource = conventionalSource(channel)): FunctionBundle {
  const shim = join("handlers/runtime", target, "channel-handler.ts");
  const file = relative(REPOSITORY_ROOT, resolve(REPOSITORY_ROOT, source.file));
  const entry = [
    `import { createChannelHandler } from "./${shim}";`,
    `import { ${source.exportName} as adapter } from "./${file}";`,
    "export const handler = createChannelHandler(adapter);",
    "",
  ].join("\n");
  return build(target, channel, entry, [...PLATFORM_SDKS[target], ...INSTALLED_AT_DEPLOY[target]]);
}

/** `handlers/channels/in-app.ts` exporting `inApp`, for a channel named `in-app`. */
export function conventionalSource(channel: string): ChannelSource {
  const file = `handlers/channels/${channel}.ts`;
  if (!existsSync(join(REPOSITORY_ROOT, file))) {
    throw new Error(`channel "${channel}" has no module at ${file}; name the module after the channel, or pass its source`);
  }
  return { file, exportName: channel.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()) };
}

/** The exact version the repository's package.json pins for `name`. */
function pinnedVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(join(REPOSITORY_ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  const version = manifest.dependencies?.[name];
  if (!version) throw new Error(`${name} is installed at deploy but not a dependency in package.json`);
  return version;
}

function build(target: BundleTarget, consumer: string, entry: string, external: readonly string[], alias: Readonly<Record<string, string>> = {}): FunctionBundle {
  const cacheKey = `${target}\u0000${consumer}\u0000${entry}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const result = buildSync({
    stdin: { contents: entry, resolveDir: REPOSITORY_ROOT, sourcefile: `${consumer}-entry.ts`, loader: "ts" },
    absWorkingDir: REPOSITORY_ROOT,
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    minify: true,
    // "linked": the .map file plus the sourceMappingURL comment that --enable-source-maps follows.
    sourcemap: "linked",
    sourcesContent: false,
    legalComments: "none",
    external: [...external],
    alias: { ...alias },
    outfile: "index.js",
    write: false,
    logLevel: "silent",
    // esbuild would otherwise pick a package's "module" build for some and "main" for
    // others depending on the importer; node's own resolution keeps one copy per package.
    mainFields: ["main", "module"],
  });
  const code = result.outputFiles.find((file) => file.path.endsWith("index.js"))!.text;
  const sourceMap = result.outputFiles.find((file) => file.path.endsWith("index.js.map"))!.text;
  const bundle: FunctionBundle = {
    consumer,
    code,
    sourceMap,
    sha256: createHash("sha256").update(code).digest("hex"),
    bytes: Buffer.byteLength(code),
    dependencies: Object.fromEntries(INSTALLED_AT_DEPLOY[target].filter((name) => code.includes(`require("${name}")`)).map((name) => [name, pinnedVersion(name)])),
  };
  cache.set(cacheKey, bundle);
  return bundle;
}
