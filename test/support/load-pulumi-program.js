// Loads the Pulumi program the way `pulumi up` does for a TypeScript project
// (@pulumi/pulumi/cmd/run/run.js, CommonJS path): ts-node registered with the project's
// tsconfig.json, nodenext module options, the TypeScript compiler from node_modules, then
// `require` of the `main` named in Pulumi.yaml. Only the engine is replaced: Pulumi's
// mocks stand in for the CLI and the cloud, since neither exists on this machine.
//
// Usage: node test/support/load-pulumi-program.js '<config JSON>'
// Prints one JSON line: { outputs, resources } or { error }.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const yaml = require("js-yaml");

const root = path.resolve(__dirname, "..", "..");
process.chdir(root);
const project = yaml.load(fs.readFileSync("Pulumi.yaml", "utf8"));
const config = JSON.parse(process.argv[2] || "{}");
process.env.PULUMI_CONFIG = JSON.stringify(config);

const compilerOptions = require("typescript").readConfigFile("tsconfig.json", (p) => fs.readFileSync(p, "utf8")).config.compilerOptions;
require("ts-node").register({
  compiler: "typescript",
  // Pulumi type-checks unless PULUMI_NODEJS_TRANSPILE_ONLY or noCheck says otherwise;
  // `npm test` runs tsc over infra/ already, so the load test skips the second check.
  transpileOnly: true,
  project: "tsconfig.json",
  skipProject: false,
  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
});

const pulumi = require("@pulumi/pulumi");
const resources = [];
pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: `${args.name}-id`, state: { ...args.inputs, arn: `arn:aws:mock:::${args.name}` } };
    },
    call: (args) => args.inputs,
  },
  project.name,
  "test",
  false,
);

(async () => {
  try {
    const program = require(path.resolve(root, project.main));
    const outputs = {};
    for (const [key, value] of Object.entries(program)) {
      outputs[key] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
    }
    process.stdout.write(`${JSON.stringify({ outputs, resources, main: project.main, runtime: project.runtime })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error && error.message) })}\n`);
  }
})();
