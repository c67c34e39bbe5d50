/**
 * The AWS functions: bundle size and cold-start initialisation per function, against bare
 * `node -e 0` and against the same code loading its packages from node_modules unbundled;
 * and API calls per 1,000 notifications fanned out, counted against moto_server.
 *
 * Initialisation is measured as Lambda pays it: a fresh `node` process that loads the
 * bundle and builds its handler, clients and sender (the first, empty, invocation, which
 * reads the channel secret from moto_server on loopback), minus a fresh `node -e 0`,
 * both medians of repeated spawns.
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
import { bundleChannel, bundleRules, REPOSITORY_ROOT, type FunctionBundle } from "../../infra/bundle";
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
    const bare = median(Array.from({ length: spawns }, () => wallMs(["-e", "0"], {})));
    figures.push({ id: "aws.node-bare-ms", label: "bare `node -e 0`, process wall time", value: bare, unit: "ms" });
    // The floor every function pays before any herald code: loading the three AWS SDK
    // clients they all use (SQS, DynamoDB, Secrets Manager).
    const sdkOnly = median(
      Array.from({ length: spawns }, () =>
        wallMs(["-e", 'require("@aws-sdk/client-sqs"); require("@aws-sdk/client-dynamodb"); require("@aws-sdk/client-secrets-manager")'], { NODE_PATH: join(REPOSITORY_ROOT, "node_modules") }),
      ),
    );
    figures.push({ id: "aws.sdk-floor-ms", label: "floor: loading the AWS SDK clients alone, above bare node", value: sdkOnly - bare, unit: "ms" });
    const dir = mkdtempSync(join(tmpdir(), "herald-cold-"));
    const moto = await startMoto();
    try {
      const env = await functionEnv(moto);
      for (const bundle of bundles) {
        figures.push({ id: `aws.${bundle.consumer}.bundle-bytes`, label: `${bundle.consumer} bundle`, value: bundle.bytes / 1024, unit: "KiB", goal: "< 1024", met: bundle.bytes < MB });
        const bundled = writeFunction(dir, `${bundle.consumer}-bundled`, bundle.code);
        const unbundled = writeFunction(dir, `${bundle.consumer}-unbundled`, unbundledCode(bundle.consumer));
        const withBundle = median(Array.from({ length: spawns }, () => wallMs([INIT_RUNNER, bundled], env)));
        const withoutBundle = median(Array.from({ length: spawns }, () => wallMs([INIT_RUNNER, unbundled], env)));
        figures.push(
          { id: `aws.${bundle.consumer}.init-ms`, label: `${bundle.consumer} initialisation above bare node (bundled)`, value: withBundle - bare, unit: "ms", goal: "< 50", met: withBundle - bare < 50 },
          { id: `aws.${bundle.consumer}.init-ms.unbundled`, label: `${bundle.consumer} initialisation above bare node (packages from node_modules)`, value: withoutBundle - bare, unit: "ms" },
        );
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

/** Loads a function and runs its first (empty) invocation, which builds its clients. */
const INIT_RUNNER = join(tmpdir(), "herald-init-runner.js");
writeFileSync(
  INIT_RUNNER,
  `const fn = require(process.argv[2]);
Promise.resolve(fn.handler({ Records: [] })).then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });
`,
);

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
      ? 'export { handler } from "./handlers/runtime/aws/rules-handler.ts";'
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
    // The runtime provides the AWS SDK; here node_modules stands in for it.
    NODE_PATH: join(REPOSITORY_ROOT, "node_modules"),
    ...moto.env,
    [AWS_ENV.idempotencyTable]: "herald-idempotency",
    [AWS_ENV.recipientsTable]: "herald-recipients",
    [AWS_ENV.rulesDlqUrl]: `${moto.endpoint}/123456789012/herald-rules-dlq`,
    [AWS_ENV.secretArn]: ARN!,
    ...Object.fromEntries(channels.map((c) => [channelQueueUrlVariable(c.name), `${moto.endpoint}/123456789012/herald-${c.name}`])),
  };
}

function wallMs(args: string[], env: Record<string, string>): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`benchmark: node ${args.join(" ")} failed: ${result.stderr.toString().slice(0, 500)}`);
  return ms;
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
    await new DynamoDirectory(peers.dynamodb, stack.recipientsTable).put({
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
    const sent = peers.sqsCommands.slice(before).filter((c) => c.command === "SendMessageBatchCommand" || c.command === "SendMessageCommand");
    const notifications = sent.reduce((n, c) => n + (c.input.Entries?.length ?? 1), 0);
    if (notifications !== events * 3) throw new Error(`benchmark: expected ${events * 3} notifications, the rules handler sent ${notifications}`);
    sns.destroy();
    return { fanout: (sent.length * 1000) / notifications, publish: (publishCalls * 1000) / notifications };
  } finally {
    await peers.stop();
    await moto.stop();
  }
}
