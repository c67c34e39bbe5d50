/**
 * The AWS calls the Lambda shims make (SQS, DynamoDB, Secrets Manager), without the AWS
 * SDK: each of the three speaks an AWS JSON protocol (a POST to the service endpoint,
 * the action in `X-Amz-Target`, the input as the JSON body, the output or the error as
 * the JSON answer), so a request is one SigV4-signed POST over `node:http(s)`.
 *
 * Why not SDK v3: loading its three clients alone took ~160 ms of every function's cold
 * start; this module costs a few ms. Why not global `fetch`: on Node 20/22 its first call
 * loads undici, tens of ms more than `node:http`. The CLI keeps the SDK.
 *
 * Inputs and outputs are the services' own JSON shapes, which are what SDK v3 commands
 * take and return for these JSON protocols (DynamoDB `AttributeValue`s as `{ S: "..." }`,
 * SQS entries as `{ Id, MessageBody, DelaySeconds }`). Errors are herald's classes:
 * throttling, 5xx and network failures are retried here a bounded number of times, then
 * thrown as {@link AwsTransientError}; credentials, permissions and missing resources
 * (a table, queue or secret the stack should have made) as {@link AwsConfigError}; any
 * other refusal, such as a failed condition, as {@link AwsRequestError}. Callers branch
 * on the AWS error code with {@link awsErrorCode}, never on message text.
 */
import { createHash, createHmac } from "node:crypto";
import type { Agent, IncomingMessage, RequestOptions } from "node:http";
import { ConfigError, PermanentError, TransientError } from "../../core/errors";
import type { ConfigSource } from "../../core/ports";

/** One AWS service spoken through its JSON protocol. */
export interface AwsApi {
  /** Runs `action` (e.g. `SendMessageBatch`) with `input`; resolves with the service's JSON answer. */
  call<T = Record<string, any>>(action: string, input: object): Promise<T>;
}

/** The services the shims use, and how each is addressed. */
export const AWS_SERVICES = {
  sqs: { targetPrefix: "AmazonSQS", jsonVersion: "1.0", endpointPrefix: "sqs", endpointVariable: "AWS_ENDPOINT_URL_SQS" },
  dynamodb: { targetPrefix: "DynamoDB_20120810", jsonVersion: "1.0", endpointPrefix: "dynamodb", endpointVariable: "AWS_ENDPOINT_URL_DYNAMODB" },
  secretsmanager: { targetPrefix: "secretsmanager", jsonVersion: "1.1", endpointPrefix: "secretsmanager", endpointVariable: "AWS_ENDPOINT_URL_SECRETS_MANAGER" },
} as const;
export type AwsServiceName = keyof typeof AWS_SERVICES;

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What a transport sends and gets back; the default is `node:http` / `node:https`. */
export interface AwsHttpRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}
export interface AwsHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
}
export type AwsTransport = (request: AwsHttpRequest) => Promise<AwsHttpResponse>;

export interface AwsClientOptions {
  /** Default `AWS_REGION`, else `AWS_DEFAULT_REGION`. */
  readonly region?: string;
  /** Default the service's `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else the regional AWS endpoint. */
  readonly endpoint?: string;
  /** Default: Lambda's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read at each call. */
  readonly credentials?: AwsCredentials;
  /** Where the `AWS_*` variables are read; `process.env` by default. */
  readonly env?: ConfigSource;
  /** Tries per call for throttling, 5xx and network failures; default 3. */
  readonly maxAttempts?: number;
  /** Full-jitter backoff base before the second try, doubling after; default 50 ms (capped at 1 s). */
  readonly backoffMs?: number;
  /** Per try; default 10 s. */
  readonly timeoutMs?: number;
  readonly transport?: AwsTransport;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** What the service said when it refused a call. */
export interface AwsErrorInfo {
  readonly service: AwsServiceName;
  readonly action: string;
  /** The AWS error code (`ConditionalCheckFailedException`, `QueueDoesNotExist`), or `NetworkError` / `TimeoutError`. */
  readonly awsCode: string;
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The error document, for the fields some errors carry (`Item`, `CancellationReasons`). */
  readonly body: Readonly<Record<string, any>>;
}

/** Throttled, a 5xx or no answer, still so after the client's own retries: retry later. */
export class AwsTransientError extends TransientError {
  readonly aws: AwsErrorInfo;
  constructor(aws: AwsErrorInfo, message: string, options?: { cause?: unknown }) {
    super(aws.awsCode, message, options);
    this.aws = aws;
  }
}

/** Our setup is wrong: credentials, permissions, or a table, queue or secret that does not exist. */
export class AwsConfigError extends ConfigError {
  readonly aws: AwsErrorInfo;
  constructor(aws: AwsErrorInfo, message: string) {
    super(aws.awsCode, message);
    this.aws = aws;
  }
}

/** The service refused this request as it is (a failed condition, an invalid parameter). */
export class AwsRequestError extends PermanentError {
  readonly aws: AwsErrorInfo;
  constructor(aws: AwsErrorInfo, message: string) {
    super(aws.awsCode, message);
    this.aws = aws;
  }
}

export type AwsError = AwsTransientError | AwsConfigError | AwsRequestError;

export function isAwsError(error: unknown): error is AwsError {
  return error instanceof AwsTransientError || error instanceof AwsConfigError || error instanceof AwsRequestError;
}

/** The AWS error code of a refused call; undefined for anything else. */
export function awsErrorCode(error: unknown): string | undefined {
  return isAwsError(error) ? error.aws.awsCode : undefined;
}

// The codes SDK v3 retries as throttling or transient (its standard retry strategy).
const THROTTLING = new Set([
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "LimitExceededException",
  "PriorRequestNotComplete",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
  "ThrottledException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TransactionInProgressException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalServerError",
  "InternalFailure",
  "ServiceUnavailable",
  "KMSThrottlingException",
]);
const CONFIG = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "ExpiredToken",
  "ExpiredTokenException",
  "IncompleteSignature",
  "IncompleteSignatureException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
  "UnauthorizedOperation",
  "ResourceNotFoundException",
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "KMSAccessDeniedException",
  "KMSDisabledException",
  "KMSNotFoundException",
  "DecryptionFailure",
]);

/** Transient (retry), config (alarm) or a refusal of this request, by code and status. */
export function classifyAwsError(awsCode: string, status: number): "transient" | "config" | "request" {
  if (THROTTLING.has(awsCode) || status === 429 || status >= 500 || status === 0) return "transient";
  if (CONFIG.has(awsCode) || status === 401 || status === 403) return "config";
  return "request";
}

/** A client for one service. Cheap to build: nothing is loaded or read until the first call. */
export function createAwsClient(service: AwsServiceName, options: AwsClientOptions = {}): AwsApi {
  return new AwsJsonClient(service, options);
}

export class AwsJsonClient implements AwsApi {
  private readonly protocol: (typeof AWS_SERVICES)[AwsServiceName];
  private readonly env: ConfigSource;
  private readonly transport: AwsTransport;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    readonly service: AwsServiceName,
    private readonly options: AwsClientOptions = {},
  ) {
    this.protocol = AWS_SERVICES[service];
    this.env = options.env ?? process.env;
    this.transport = options.transport ?? nodeTransport;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  async call<T = Record<string, any>>(action: string, input: object): Promise<T> {
    const region = this.options.region ?? this.env.AWS_REGION ?? this.env.AWS_DEFAULT_REGION;
    if (!region) throw new ConfigError("aws-region-missing", "AWS_REGION is not set");
    const url = new URL(this.options.endpoint ?? this.env[this.protocol.endpointVariable] ?? this.env.AWS_ENDPOINT_URL ?? defaultEndpoint(this.protocol.endpointPrefix, region));
    const body = JSON.stringify(input);
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? 3);
    const backoffMs = this.options.backoffMs ?? 50;
    for (let attempt = 1; ; attempt++) {
      const credentials = this.options.credentials ?? credentialsFrom(this.env);
      const amzDate = amzDateOf(this.now());
      const headers: Record<string, string> = {
        "content-type": `application/x-amz-json-${this.protocol.jsonVersion}`,
        "x-amz-date": amzDate,
        "x-amz-target": `${this.protocol.targetPrefix}.${action}`,
        ...(credentials.sessionToken ? { "x-amz-security-token": credentials.sessionToken } : {}),
      };
      const signature = signV4(
        { method: "POST", host: url.host, path: url.pathname || "/", headers, body },
        { region, service: signingName(this.service), credentials, amzDate },
      );
      const answer = await this.post(action, { url, headers: { ...headers, host: url.host, authorization: signature.authorization }, body });
      if (!(answer instanceof AwsTransientError) && answer.status >= 200 && answer.status < 300) return (answer.body ? JSON.parse(answer.body) : {}) as T;
      const failure = answer instanceof AwsTransientError ? answer : this.refusal(action, answer);
      if (!(failure instanceof AwsTransientError) || attempt >= maxAttempts) throw failure;
      await new Promise((resolve) => setTimeout(resolve, this.random() * Math.min(1000, backoffMs * 2 ** (attempt - 1))));
    }
  }

  /** The service's answer, or the failure to get one (connection refused or reset, no answer in time). */
  private async post(action: string, request: Omit<AwsHttpRequest, "timeoutMs">): Promise<AwsHttpResponse | AwsTransientError> {
    try {
      return await this.transport({ ...request, timeoutMs: this.options.timeoutMs ?? 10_000 });
    } catch (error) {
      const timedOut = (error as { code?: string }).code === "ETIMEDOUT";
      const info: AwsErrorInfo = { service: this.service, action, awsCode: timedOut ? "TimeoutError" : "NetworkError", status: 0, body: {} };
      return new AwsTransientError(info, `${this.service} ${action}: ${(error as Error).message}`, { cause: error });
    }
  }

  private refusal(action: string, response: AwsHttpResponse): AwsError {
    let document: Record<string, any> = {};
    try {
      const parsed = response.body ? JSON.parse(response.body) : {};
      if (parsed && typeof parsed === "object") document = parsed;
    } catch {
      // A proxy's HTML page or a truncated answer: the status says enough.
    }
    const awsCode = errorCodeOf(response.headers["x-amzn-errortype"] ?? document.__type ?? document.code ?? document.Code) ?? `Http${response.status}`;
    const info: AwsErrorInfo = { service: this.service, action, awsCode, status: response.status, body: document };
    const detail = document.message ?? document.Message;
    const message = `${this.service} ${action}: ${awsCode}${typeof detail === "string" && detail ? `: ${detail}` : ""} (HTTP ${response.status})`;
    switch (classifyAwsError(awsCode, response.status)) {
      case "transient":
        return new AwsTransientError(info, message);
      case "config":
        return new AwsConfigError(info, message);
      default:
        return new AwsRequestError(info, message);
    }
  }
}

/** `com.amazonaws.dynamodb.v20120810#ResourceNotFoundException` or `X:http://...` to the bare code. */
function errorCodeOf(raw: unknown): string | undefined {
  if (typeof raw !== "string" || raw === "") return undefined;
  const afterHash = raw.includes("#") ? raw.slice(raw.lastIndexOf("#") + 1) : raw;
  return afterHash.split(":")[0]!.trim() || undefined;
}

/** The service name in the credential scope; the same as the endpoint prefix for these three. */
function signingName(service: AwsServiceName): string {
  return AWS_SERVICES[service].endpointPrefix;
}

function defaultEndpoint(prefix: string, region: string): string {
  return `https://${prefix}.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
}

function credentialsFrom(env: ConfigSource): AwsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new ConfigError("aws-credentials-missing", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
  const sessionToken = env.AWS_SESSION_TOKEN;
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/** `20150830T123600Z`. */
export function amzDateOf(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export interface SignableRequest {
  readonly method: string;
  /** `host[:port]` as sent in the Host header. */
  readonly host: string;
  readonly path: string;
  /** Query parameters (unencoded); none for the JSON protocols. */
  readonly query?: Readonly<Record<string, string>>;
  /** Headers to sign besides `host` (names in any case). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface SigningScope {
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  /** `YYYYMMDDTHHMMSSZ`, the same as the request's `x-amz-date`. */
  readonly amzDate: string;
}

export interface Signature {
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly signedHeaders: string;
  readonly signature: string;
  readonly authorization: string;
}

/**
 * AWS Signature Version 4 for a request's headers (the `Authorization` header). The path
 * is taken as already normalised (`/` for every JSON protocol call); header values are
 * trimmed with inner runs of spaces folded, as the canonical form requires.
 */
export function signV4(request: SignableRequest, scope: SigningScope): Signature {
  const headers = new Map<string, string>([["host", request.host]]);
  for (const [name, value] of Object.entries(request.headers)) headers.set(name.toLowerCase(), value.trim().replace(/\s+/g, " "));
  const names = [...headers.keys()].sort();
  const signedHeaders = names.join(";");
  const query = Object.entries(request.query ?? {})
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const canonicalRequest = [
    request.method,
    request.path,
    query,
    names.map((name) => `${name}:${headers.get(name)}\n`).join(""),
    signedHeaders,
    sha256Hex(request.body),
  ].join("\n");
  const date = scope.amzDate.slice(0, 8);
  const credentialScope = `${date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", scope.amzDate, credentialScope, sha256Hex(canonicalRequest)].join("\n");
  const key = [date, scope.region, scope.service, "aws4_request"].reduce<Buffer | string>(
    (k, part) => createHmac("sha256", k).update(part).digest(),
    `AWS4${scope.credentials.secretAccessKey}`,
  );
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  return {
    canonicalRequest,
    stringToSign,
    signedHeaders,
    signature,
    authorization: `AWS4-HMAC-SHA256 Credential=${scope.credentials.accessKeyId}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** RFC 3986 unreserved characters stay; everything else is %XX (upper case), as SigV4 wants. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

type HttpModule = typeof import("node:http");
const modules = new Map<string, Promise<{ module: HttpModule; agent: Agent }>>();

/**
 * `node:http` or `node:https`, loaded on first use (a function that makes no call does not
 * pay for it), with one keep-alive agent per container so calls reuse their connections.
 */
function httpFor(protocol: string): Promise<{ module: HttpModule; agent: Agent }> {
  let loaded = modules.get(protocol);
  if (!loaded) {
    loaded = (protocol === "https:" ? import("node:https") : import("node:http")).then((imported) => {
      const module = ((imported as { default?: HttpModule }).default ?? imported) as HttpModule;
      return { module, agent: new module.Agent({ keepAlive: true, maxSockets: 50 }) };
    });
    modules.set(protocol, loaded);
  }
  return loaded;
}

/** POSTs the signed request; rejects only when no answer came (the status decides the rest). */
export const nodeTransport: AwsTransport = async (request) => {
  const { module, agent } = await httpFor(request.url.protocol);
  return new Promise<AwsHttpResponse>((resolve, reject) => {
    const options: RequestOptions = {
      method: "POST",
      hostname: request.url.hostname,
      port: request.url.port || undefined,
      path: request.url.pathname || "/",
      headers: { ...request.headers, "content-length": String(Buffer.byteLength(request.body)) },
      agent,
    };
    const outgoing = module.request(options, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(response.headers)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
        resolve({ status: response.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    outgoing.setTimeout(request.timeoutMs, () => outgoing.destroy(Object.assign(new Error(`no answer within ${request.timeoutMs} ms`), { code: "ETIMEDOUT" })));
    outgoing.on("error", reject);
    outgoing.end(request.body);
  });
};
