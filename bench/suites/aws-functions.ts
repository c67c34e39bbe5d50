/**
 * The AWS functions: bundle size and cold-start initialisation per function, against bare
 * `node -e 0` and against the same code loading its packages from node_modules unbundled;
 * and API calls per 1,000 notifications fanned out, counted against moto_server.
 *
 * Initialisation is measured as Lambda pays it: a fresh `node` process that loads the
 * bundle and builds its handler, clients and sender (the first, empty, invocation, which
 * reads the channel secret from moto_server on loopback), minus a fresh `node -e 0`,
 * both medians of repeated spawns, with the spread (fastest and slowest spawn, minus the
 * bare median). The same spawns' CPU time (user + system, all threads) is reported too:
 * on a busy machine wall time mostly measures waiting for a core, CPU time much less so.
 * For comparison: the AWS SDK v3 clients the functions used to load, and each channel's
 * delivery SDK alone, both from node_modules.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import webpush from "web-push";
import { publishEvents } from "../../cli/aws/sns-publish";
import { channels } from "../../handlers/channels";
import { validateEvent } from "../../handlers/core/envelope";
import { SchemaRegistry } from "../../handlers/core/schema-registry";
import { DynamoDirectory } from "../../handlers/runtime/aws/dynamo-directory";
import { AWS_ENV, channelQueueUrlVariable } from "../../handlers/runtime/aws/env";
import { bundleChannel, bundleRules, precompiledValidatorsEntry, REPOSITORY_ROOT, type FunctionBundle } from "../../infra/bundle";
import { schemaSet } from "../../schemas/generated/schema-set";
import { startMoto, type MotoServer } from "../../test/support/moto";
import { createStack, startPeers } from "../../test/runtime/aws/aws-stack";
import { receiveEvent, settle } from "../../test/runtime/aws/aws-fixture";
import { median, type Figure, type Suite } from "../measure";

const MB = 1024 * 1024;

export const awsFunctions: Suite = {
  name: "aws functions",
  async run({ quick }) {
    if (spawnSync("moto_server", ["--help"]).status !== 0) {
      process.stderr.write("aws functions: moto_server not found (the functions read their secret from it); suite skipped\n");
      return [];
    }
    const spawns = quick ? 5 : 15;
    const figures: Figure[] = [];
    const bundles: FunctionBundle[] = [bundleRules("aws"), ...channels.map((c) => bundleChannel("aws", c.name))];
    const bareRuns = Array.from({ length: spawns }, () => spawnMs(["-e", CPU_REPORT], {}));
    const bare = median(bareRuns.map((run) => run.wall));
    const bareCpu = median(bareRuns.map((run) => run.cpu));
    figures.push(
      { id: "aws.node-bare-ms", label: "bare `node -e 0`, process wall time", value: bare, unit: "ms", spread: spreadOf(bareRuns.map((run) => run.wall), 0) },
      { id: "aws.node-bare-cpu-ms", label: "bare `node -e 0`, process CPU time", value: bareCpu, unit: "ms", spread: spreadOf(bareRuns.map((run) => run.cpu), 0) },
    );
    const fromNodeModules = { NODE_PATH: join(REPOSITORY_ROOT, "node_modules") };
    // What the functions no longer load: the three AWS SDK v3 clients (SQS, DynamoDB,
    // Secrets Manager) took this much before any herald code ran.
    const sdk = median(
      Array.from(
        { length: spawns },
        () => spawnMs(["-e", `require("@aws-sdk/client-sqs"); require("@aws-sdk/client-dynamodb"); require("@aws-sdk/client-secrets-manager"); ${CPU_REPORT}`], fromNodeModules).wall,
      ),
    );
    figures.push({ id: "aws.sdk-floor-ms", label: "for comparison: loading the AWS SDK v3 clients alone (no longer used), above bare node", value: sdk - bare, unit: "ms" });
    const dir = mkdtempSync(join(tmpdir(), "herald-cold-"));
    const moto = await startMoto();
    try {
      const env = await functionEnv(moto);
      for (const bundle of bundles) {
        figures.push({ id: `aws.${bundle.consumer}.bundle-bytes`, label: `${bundle.consumer} bundle`, value: bundle.bytes / 1024, unit: "KiB", goal: "< 1024", met: bundle.bytes < MB });
        const bundled = writeFunction(dir, `${bundle.consumer}-bundled`, bundle.code);
        const unbundled = writeFunction(dir, `${bundle.consumer}-unbundled`, unbundledCode(bundle.consumer));
        const bundledRuns = Array.from({ length: spawns }, () => spawnMs([INIT_RUNNER, bundled], env));
        const withBundle = median(bundledRuns.map((run) => run.wall));
        const withoutBundle = median(Array.from({ length: spawns }, () => spawnMs([INIT_RUNNER, unbundled], env).wall));
        figures.push(
          {
            id: `aws.${bundle.consumer}.init-ms`,
            label: `${bundle.consumer} initialisation above bare node (bundled)`,
            value: withBundle - bare,
            unit: "ms",
            spread: spreadOf(bundledRuns.map((run) => run.wall), bare),
            goal: "< 50",
            met: withBundle - bare < 50,
          },
          {
            id: `aws.${bundle.consumer}.init-cpu-ms`,
            label: `${bundle.consumer} initialisation above bare node (bundled), CPU time`,
            value: median(bundledRuns.map((run) => run.cpu)) - bareCpu,
            unit: "ms",
            spread: spreadOf(bundledRuns.map((run) => run.cpu), bareCpu),
          },
          { id: `aws.${bundle.consumer}.init-ms.unbundled`, label: `${bundle.consumer} initialisation above bare node (packages from node_modules)`, value: withoutBundle - bare, unit: "ms" },
        );
        const sdkOf = CHANNEL_SDK_LOADS[bundle.consumer];
        if (sdkOf) {
          const alone = median(Array.from({ length: spawns }, () => spawnMs(["-e", `${sdkOf} ${CPU_REPORT}`], fromNodeModules).wall));
          figures.push({
            id: `aws.${bundle.consumer}.channel-sdk-ms`,
            label: `for comparison: loading ${bundle.consumer}'s delivery SDK alone (what its sender requires), above bare node`,
            value: alone - bare,
            unit: "ms",
          });
        }
      }
    } finally {
      await moto.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const calls = await apiCallsPerThousand(quick ? 100 : 334);
    figures.push(
      { id: "aws.fanout-calls-per-1000", label: "rules -> channel queue calls per 1,000 notifications (SendMessageBatch)", value: calls.fanout, unit: "calls", goal: "<= 110", met: calls.fanout <= 110 },
      { id: "aws.publish-calls-per-1000", label: "publish calls per 1,000 notifications (PublishBatch, 3 notifications per event)", value: calls.publish, unit: "calls" },
    );
    return figures;
  },
};

/** Prints the process's CPU time so far (user + system, ms), as the last line of stdout. */
const CPU_REPORT = "const cpu = process.cpuUsage(); console.log((cpu.user + cpu.system) / 1000);";

/** Loads a function and runs its first (empty) invocation, which builds its clients. */
const INIT_RUNNER = join(tmpdir(), "herald-init-runner.js");
writeFileSync(
  INIT_RUNNER,
  `const fn = require(process.argv[2]);
Promise.resolve(fn.handler({ Records: [] })).then(() => { ${CPU_REPORT} process.exit(0); }, (error) => { console.error(error); process.exit(1); });
`,
);

/** What each channel's sender loads when it is built (see loadNodemailer, loadWebPush, loadTwilio and loadPhoneNumbers). */
const CHANNEL_SDK_LOADS: Readonly<Record<string, string>> = {
  email: 'require("nodemailer");',
  push: 'require("web-push");',
  sms: 'for (const m of ["twilio/lib/base/RequestClient", "twilio/lib/base/BaseTwilio", "twilio/lib/base/Domain", "twilio/lib/base/Version", "twilio/lib/rest/api/v2010/account/message", "libphonenumber-js/max"]) require(m);',
};

/** The fastest and slowest run, less `base`. */
function spreadOf(values: readonly number[], base: number): readonly [number, number] {
  return [Math.min(...values) - base, Math.max(...values) - base];
}

function writeFunction(dir: string, name: string, code: string): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "index.js"), code);
  return join(folder, "index.js");
}

/** The same entry with every npm package left external: what loading them from node_modules costs. */
function unbundledCode(consumer: string): string {
  const entry =
    consumer === "rules"
      ? `${precompiledValidatorsEntry()}export { handler } from "./handlers/runtime/aws/rules-handler.ts";`
      : `import { createChannelHandler } from "./handlers/runtime/aws/channel-handler.ts"; import { ${consumer} as adapter } from "./handlers/channels/${consumer}.ts"; export const handler = createChannelHandler(adapter);`;
  const result = buildSync({
    stdin: { contents: entry, resolveDir: REPOSITORY_ROOT, loader: "ts" },
    bundle: true,
    packages: "external",
    platform: "node",
    target: "node22",
    format: "cjs",
    write: false,
  });
  return result.outputFiles[0]!.text;
}

/**
 * What the stack sets on a function, with AWS on moto_server: the channel secret exists
 * there, so the first invocation reads it (one loopback round trip) and builds the
 * sender, as a cold start in AWS does.
 */
async function functionEnv(moto: MotoServer): Promise<Record<string, string>> {
  const vapid = webpush.generateVAPIDKeys();
  const secrets = new SecretsManagerClient(moto.clientConfig);
  const { ARN } = await secrets.send(
    new CreateSecretCommand({
      Name: "herald-bench-channels",
      SecretString: JSON.stringify({
        HERALD_SMTP_URL: "smtp://bench:bench@127.0.0.1:9",
        HERALD_EMAIL_FROM: "herald <herald@example.com>",
        HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
        HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
        HERALD_VAPID_SUBJECT: "mailto:herald@example.com",
        TWILIO_ACCOUNT_SID: `AC${"0".repeat(32)}`,
        TWILIO_AUTH_TOKEN: "bench",
        HERALD_SMS_FROM: "+15005550006",
      }),
    }),
  );
  secrets.destroy();
  return {
    PATH: process.env.PATH ?? "",
    // For the unbundled variants (and the comparison rows): the bundles load nothing from it.
    NODE_PATH: join(REPOSITORY_ROOT, "node_modules"),
    ...moto.env,
    [AWS_ENV.idempotencyTable]: "herald-idempotency",
    [AWS_ENV.recipientsTable]: "herald-recipients",
    [AWS_ENV.rulesDlqUrl]: `${moto.endpoint}/123456789012/herald-rules-dlq`,
    [AWS_ENV.secretArn]: ARN!,
    ...Object.fromEntries(channels.map((c) => [channelQueueUrlVariable(c.name), `${moto.endpoint}/123456789012/herald-${c.name}`])),
  };
}

/** One fresh `node`: its wall time, and the CPU time it reported. */
function spawnMs(args: string[], env: Record<string, string>): { wall: number; cpu: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`benchmark: node ${args.join(" ")} failed: ${result.stderr.toString().slice(0, 500)}`);
  const cpu = Number(result.stdout.toString().trim().split("\n").pop());
  if (!Number.isFinite(cpu)) throw new Error(`benchmark: node ${args.join(" ")} reported no CPU time`);
  return { wall, cpu };
}

/**
 * Publishes `events` order.shipped events for one recipient with e-mail, phone and push
 * (3 notifications each) through SNS to the rules queue, runs the rules handler on the
 * batches as the event source mapping would (10 per invocation), and counts the calls.
 */
async function apiCallsPerThousand(events: number): Promise<{ fanout: number; publish: number }> {
  const moto = await startMoto();
  const peers = await startPeers(moto);
  try {
    const stack = await createStack(peers);
    const subscription = await peers.sinks.push.createSubscription();
    await new DynamoDirectory(peers.aws.dynamodb, stack.recipientsTable).put({
      id: "cus_bench",
      contacts: { email: "bench@example.com", phone: "+14155550123", push: [subscription] },
      locale: "en",
      timeZone: "UTC",
    });
    const template = JSON.parse(readFileSync(resolve(REPOSITORY_ROOT, "schemas/events/order.shipped/examples/v1-standard.json"), "utf8"));
    const registry = new SchemaRegistry(schemaSet);
    const accepted = Array.from({ length: events }, (_, i) => validateEvent({ ...template, id: `calls-${i}`, data: { ...template.data, customerId: "cus_bench" } }, registry));
    const sns = new SNSClient(moto.clientConfig);
    let publishCalls = 0;
    sns.middlewareStack.add((next) => async (args) => {
      publishCalls += 1;
      return next(args);
    });
    await publishEvents(sns, stack.topicArn, accepted);
    const handler = stack.rulesHandler();
    const before = peers.sqsCommands.length;
    let handled = 0;
    while (handled < events) {
      const batch = await receiveEvent(peers.sqs, stack.rules, { max: 10 });
      if (batch.Records.length === 0) throw new Error(`benchmark: only ${handled} of ${events} events reached the rules queue`);
      const response = await handler(batch);
      await settle(peers.sqs, stack.rules, batch, response);
      handled += batch.Records.length;
    }
    const sent = peers.sqsCommands.slice(before).filter((c) => c.action === "SendMessageBatch" || c.action === "SendMessage");
    const notifications = sent.reduce((n, c) => n + (c.input.Entries?.length ?? 1), 0);
    if (notifications !== events * 3) throw new Error(`benchmark: expected ${events * 3} notifications, the rules handler sent ${notifications}`);
    sns.destroy();
    return { fanout: (sent.length * 1000) / notifications, publish: (publishCalls * 1000) / notifications };
  } finally {
    await peers.stop();
    await moto.stop();
  }
}
