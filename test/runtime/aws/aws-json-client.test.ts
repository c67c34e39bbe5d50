/**
 * The shims' AWS client: SigV4 against AWS's published test-suite signatures, then every
 * call the shims make against moto_server (checked with the SDK as the independent peer),
 * the error classes, and the bounded retry on a transport that plays throttling and 5xx.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { ConfigError, PermanentError, TransientError } from "../../../handlers/core/errors";
import {
  amzDateOf,
  AwsConfigError,
  AwsJsonClient,
  AwsRequestError,
  awsErrorCode,
  AwsTransientError,
  classifyAwsError,
  signV4,
  type AwsHttpRequest,
  type AwsHttpResponse,
} from "../../../handlers/runtime/aws/aws-json-client";
import { startMoto, type MotoServer } from "../../support/moto";
import { freePort } from "../../support/ports";
import { uniqueKey } from "../conformance/fixture";
import { createQueue, createTable, drain, motoAwsClient } from "./aws-fixture";

// The AWS Signature Version 4 test suite's example credentials and scope.
const SUITE = {
  region: "us-east-1",
  service: "service",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  amzDate: "20150830T123600Z",
};

describe("SigV4", () => {
  it("signs the test suite's get-vanilla request to AWS's published signature", () => {
    const signed = signV4({ method: "GET", host: "example.amazonaws.com", path: "/", headers: { "X-Amz-Date": SUITE.amzDate }, body: "" }, SUITE);
    expect(signed.canonicalRequest).toBe(
      ["GET", "/", "", "host:example.amazonaws.com", "x-amz-date:20150830T123600Z", "", "host;x-amz-date", createHash("sha256").update("").digest("hex")].join("\n"),
    );
    expect(signed.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
  });

  it("signs post-vanilla and get-vanilla-query-order-key-case to their published signatures", () => {
    const post = signV4({ method: "POST", host: "example.amazonaws.com", path: "/", headers: { "x-amz-date": SUITE.amzDate }, body: "" }, SUITE);
    expect(post.signature).toBe("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    const query = signV4(
      { method: "GET", host: "example.amazonaws.com", path: "/", query: { Param2: "value2", Param1: "value1" }, headers: { "x-amz-date": SUITE.amzDate }, body: "" },
      SUITE,
    );
    expect(query.signature).toBe("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  });

  it("changes the signature with the body, the secret and the session token", () => {
    const base = { method: "POST", host: "sqs.us-east-1.amazonaws.com", path: "/", headers: { "x-amz-date": SUITE.amzDate }, body: "{}" };
    const signature = signV4(base, SUITE).signature;
    expect(signV4({ ...base, body: '{"a":1}' }, SUITE).signature).not.toBe(signature);
    expect(signV4(base, { ...SUITE, credentials: { ...SUITE.credentials, secretAccessKey: "other" } }).signature).not.toBe(signature);
    const withToken = signV4({ ...base, headers: { ...base.headers, "X-Amz-Security-Token": "token" } }, SUITE);
    expect(withToken.signedHeaders).toBe("host;x-amz-date;x-amz-security-token");
    expect(withToken.signature).not.toBe(signature);
  });

  it("formats the request date as SigV4 wants it", () => {
    expect(amzDateOf(Date.parse("2015-08-30T12:36:00.123Z"))).toBe("20150830T123600Z");
  });
});

/** A transport that answers from a script and keeps what it was sent. */
function scripted(answers: Array<Partial<AwsHttpResponse> | Error>) {
  const sent: AwsHttpRequest[] = [];
  return {
    sent,
    transport: async (request: AwsHttpRequest): Promise<AwsHttpResponse> => {
      sent.push(request);
      const answer = answers.shift();
      if (!answer) throw new Error("script ran out");
      if (answer instanceof Error) throw answer;
      return { status: 200, headers: {}, body: "", ...answer };
    },
  };
}

const FAKE_ENV = { AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "session" };

describe("AwsJsonClient requests and errors (scripted transport)", () => {
  it("posts the JSON protocol to the regional endpoint, signed with Lambda's credentials and session token", async () => {
    const { sent, transport } = scripted([{ body: '{"QueueUrl":"https://q"}' }]);
    const client = new AwsJsonClient("sqs", { env: FAKE_ENV, transport, now: () => Date.parse("2026-11-20T12:00:00Z") });
    expect(await client.call("GetQueueUrl", { QueueName: "q" })).toEqual({ QueueUrl: "https://q" });
    const [request] = sent;
    expect(request!.url.href).toBe("https://sqs.eu-west-1.amazonaws.com/");
    expect(request!.headers["x-amz-target"]).toBe("AmazonSQS.GetQueueUrl");
    expect(request!.headers["content-type"]).toBe("application/x-amz-json-1.0");
    expect(request!.headers["x-amz-security-token"]).toBe("session");
    expect(request!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/20261120\/eu-west-1\/sqs\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/,
    );
    expect(JSON.parse(request!.body)).toEqual({ QueueName: "q" });
  });

  it("uses each service's target prefix and JSON version, and the endpoint variables", async () => {
    const { sent, transport } = scripted([{}, {}, {}]);
    const env = { ...FAKE_ENV, AWS_ENDPOINT_URL: "http://127.0.0.1:1", AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:2" };
    await new AwsJsonClient("dynamodb", { env, transport }).call("GetItem", {});
    await new AwsJsonClient("secretsmanager", { env, transport }).call("GetSecretValue", {});
    await new AwsJsonClient("sqs", { env: { ...FAKE_ENV, AWS_REGION: "cn-north-1" }, transport }).call("SendMessage", {});
    expect(sent.map((r) => [r.url.href, r.headers["x-amz-target"], r.headers["content-type"]])).toEqual([
      ["http://127.0.0.1:2/", "DynamoDB_20120810.GetItem", "application/x-amz-json-1.0"],
      ["http://127.0.0.1:1/", "secretsmanager.GetSecretValue", "application/x-amz-json-1.1"],
      ["https://sqs.cn-north-1.amazonaws.com.cn/", "AmazonSQS.SendMessage", "application/x-amz-json-1.0"],
    ]);
  });

  it("retries throttling and 5xx a bounded number of times, then throws a TransientError", async () => {
    const throttled = { status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}' };
    const ok = scripted([throttled, { status: 503, body: "<html>" }, { body: '{"Item":{}}' }]);
    const client = new AwsJsonClient("dynamodb", { env: FAKE_ENV, transport: ok.transport, backoffMs: 1 });
    expect(await client.call("GetItem", {})).toEqual({ Item: {} });
    expect(ok.sent).toHaveLength(3);

    const never = scripted([throttled, throttled, throttled, throttled]);
    const error = await new AwsJsonClient("dynamodb", { env: FAKE_ENV, transport: never.transport, backoffMs: 1, maxAttempts: 3 })
      .call("GetItem", {})
      .catch((caught: unknown) => caught);
    expect(never.sent).toHaveLength(3);
    expect(error).toBeInstanceOf(AwsTransientError);
    expect(error).toBeInstanceOf(TransientError);
    expect(awsErrorCode(error)).toBe("ProvisionedThroughputExceededException");
    expect((error as Error).message).toContain("slow down");
  });

  it("retries a connection failure, and does not retry a refusal", async () => {
    const reset = scripted([Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), { body: "{}" }]);
    await new AwsJsonClient("sqs", { env: FAKE_ENV, transport: reset.transport, backoffMs: 1 }).call("SendMessage", {});
    expect(reset.sent).toHaveLength(2);

    const refused = scripted([{ status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"bad"}' }, { body: "{}" }]);
    const error = await new AwsJsonClient("dynamodb", { env: FAKE_ENV, transport: refused.transport }).call("PutItem", {}).catch((caught: unknown) => caught);
    expect(refused.sent).toHaveLength(1);
    expect(error).toBeInstanceOf(AwsRequestError);
    expect(error).toBeInstanceOf(PermanentError);
  });

  it("classifies credentials, permissions and missing resources as config errors", async () => {
    const denied = scripted([{ status: 400, headers: { "x-amzn-errortype": "UnrecognizedClientException:http://internal.amazon.com/" }, body: "{}" }]);
    const error = await new AwsJsonClient("dynamodb", { env: FAKE_ENV, transport: denied.transport }).call("GetItem", {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AwsConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    expect(awsErrorCode(error)).toBe("UnrecognizedClientException");
    expect(classifyAwsError("AccessDeniedException", 400)).toBe("config");
    expect(classifyAwsError("QueueDoesNotExist", 400)).toBe("config");
    expect(classifyAwsError("ThrottlingException", 400)).toBe("transient");
    expect(classifyAwsError("Whatever", 500)).toBe("transient");
    expect(classifyAwsError("ConditionalCheckFailedException", 400)).toBe("request");
  });

  it("refuses to call without a region or credentials, naming the variable", async () => {
    const { transport } = scripted([]);
    await expect(new AwsJsonClient("sqs", { env: { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" }, transport }).call("SendMessage", {})).rejects.toThrow(
      /AWS_REGION/,
    );
    await expect(new AwsJsonClient("sqs", { env: { AWS_REGION: "us-east-1" }, transport }).call("SendMessage", {})).rejects.toThrow(/AWS_ACCESS_KEY_ID/);
  });

  it("gives up on a server that does not answer within the timeout", async () => {
    const net = await import("node:net");
    const silent = net.createServer(() => {});
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
    try {
      const client = new AwsJsonClient("sqs", { env: { ...FAKE_ENV, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }, timeoutMs: 100, maxAttempts: 2, backoffMs: 1 });
      const error = await client.call("SendMessage", {}).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AwsTransientError);
      expect(awsErrorCode(error)).toBe("TimeoutError");
    } finally {
      silent.close();
    }
  });
});

describe("AwsJsonClient on moto", () => {
  let moto: MotoServer;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let secrets: SecretsManagerClient;

  beforeAll(async () => {
    moto = await startMoto();
    sqs = new SQSClient(moto.clientConfig);
    dynamodb = new DynamoDBClient(moto.clientConfig);
    secrets = new SecretsManagerClient(moto.clientConfig);
  });
  afterAll(async () => {
    for (const client of [sqs, dynamodb, secrets]) client?.destroy();
    await moto?.stop();
  });

  it("speaks SQS JSON: GetQueueUrl, SendMessageBatch with DelaySeconds, SendMessage with attributes, ChangeMessageVisibility", async () => {
    const queue = await createQueue(sqs, uniqueKey("client"));
    const api = motoAwsClient(moto, "sqs");
    const name = queue.url.slice(queue.url.lastIndexOf("/") + 1);
    expect((await api.call<{ QueueUrl: string }>("GetQueueUrl", { QueueName: name, QueueOwnerAWSAccountId: "123456789012" })).QueueUrl).toBe(queue.url);
    const batch = await api.call<{ Successful: Array<{ Id: string }>; Failed?: unknown[] }>("SendMessageBatch", {
      QueueUrl: queue.url,
      Entries: [
        { Id: "a", MessageBody: "now" },
        { Id: "b", MessageBody: "later", DelaySeconds: 600 },
      ],
    });
    expect(batch.Successful.map((entry) => entry.Id).sort()).toEqual(["a", "b"]);
    expect(batch.Failed ?? []).toEqual([]);
    await api.call("SendMessage", { QueueUrl: queue.url, MessageBody: "kept", MessageAttributes: { why: { DataType: "String", StringValue: "because" } } });
    const visible = await drain(sqs, queue);
    expect(visible.map((m) => m.Body).sort()).toEqual(["kept", "now"]);
    expect(visible.find((m) => m.Body === "kept")!.MessageAttributes).toEqual({ why: { DataType: "String", StringValue: "because" } });

    await api.call("SendMessage", { QueueUrl: queue.url, MessageBody: "hide me" });
    const { Messages } = await sqs.send(new (await import("@aws-sdk/client-sqs")).ReceiveMessageCommand({ QueueUrl: queue.url, VisibilityTimeout: 0 }));
    await api.call("ChangeMessageVisibility", { QueueUrl: queue.url, ReceiptHandle: Messages![0]!.ReceiptHandle, VisibilityTimeout: 300 });
    expect(await drain(sqs, queue)).toEqual([]);
  });

  it("reports a queue that does not exist as a config error", async () => {
    const error = await motoAwsClient(moto, "sqs")
      .call("SendMessage", { QueueUrl: `${moto.endpoint}/123456789012/${uniqueKey("gone")}`, MessageBody: "x" })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AwsConfigError);
    expect(awsErrorCode(error)).toBe("QueueDoesNotExist");
  });

  it("speaks DynamoDB JSON: a conditional PutItem refused with the old item, GetItem, a missing table", async () => {
    const table = await createTable(dynamodb, uniqueKey("client"));
    const api = motoAwsClient(moto, "dynamodb");
    const put = { TableName: table.name, Item: { pk: { S: "k" }, tags: { SS: ["a", "b"] }, n: { N: "1" } }, ConditionExpression: "attribute_not_exists(pk)" };
    await api.call("PutItem", put);
    const { Item } = await dynamodb.send(new GetItemCommand({ TableName: table.name, Key: { pk: { S: "k" } }, ConsistentRead: true }));
    expect(Item).toEqual({ pk: { S: "k" }, tags: { SS: ["a", "b"] }, n: { N: "1" } });

    const error = await api.call("PutItem", { ...put, ReturnValuesOnConditionCheckFailure: "ALL_OLD" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AwsRequestError);
    expect(awsErrorCode(error)).toBe("ConditionalCheckFailedException");
    expect((error as AwsRequestError).aws.body.Item).toEqual({ pk: { S: "k" }, tags: { SS: ["a", "b"] }, n: { N: "1" } });

    expect((await api.call<{ Item?: unknown }>("GetItem", { TableName: table.name, Key: { pk: { S: "k" } }, ConsistentRead: true })).Item).toEqual(Item);
    expect(await api.call("GetItem", { TableName: table.name, Key: { pk: { S: "none" } } })).toEqual({});
    const missing = await api.call("GetItem", { TableName: uniqueKey("no-table"), Key: { pk: { S: "k" } } }).catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(AwsConfigError);
    expect(awsErrorCode(missing)).toBe("ResourceNotFoundException");
  });

  it("speaks Secrets Manager JSON 1.1: GetSecretValue, and a missing secret as a config error", async () => {
    const { ARN } = await secrets.send(new CreateSecretCommand({ Name: uniqueKey("client"), SecretString: '{"KEY":"value"}' }));
    const api = motoAwsClient(moto, "secretsmanager");
    expect((await api.call<{ SecretString: string }>("GetSecretValue", { SecretId: ARN })).SecretString).toBe('{"KEY":"value"}');
    const error = await api.call("GetSecretValue", { SecretId: uniqueKey("no-secret") }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AwsConfigError);
    expect(awsErrorCode(error)).toBe("ResourceNotFoundException");
  });
});
