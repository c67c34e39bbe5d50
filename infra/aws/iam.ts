/**
 * IAM policy documents for the herald functions: exactly the actions each needs, on the
 * resources it uses. Pure functions over ARNs, so the policy pack and the tests read the
 * same documents that are deployed.
 */
import type { FunctionAccess } from "../platform";

export interface PolicyStatement {
  readonly Effect: "Allow";
  readonly Action: readonly string[];
  readonly Resource: readonly string[];
}

export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

/** The ARNs behind a function's access (resolved by the platform). */
export interface ResolvedAccess {
  readonly consumesQueueArn: string;
  readonly sendsToQueueArns: readonly string[];
  readonly tables: ReadonlyArray<{ readonly arn: string; readonly access: FunctionAccess["stores"][number]["access"] }>;
  readonly secretArns: readonly string[];
  readonly logGroupArn: string;
}

/** What an event source mapping needs from the function's role to poll, delete and hide messages. */
export const CONSUME_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"] as const;
/** SendMessageBatch is authorised by sqs:SendMessage. */
export const SEND_ACTIONS = ["sqs:SendMessage"] as const;
export const TABLE_ACTIONS = {
  read: ["dynamodb:GetItem"],
  // Conditional puts, updates and deletes for claims and completions; Query is not needed.
  "read-write": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
} as const;

export function functionPolicy(access: ResolvedAccess): PolicyDocument {
  const statements: PolicyStatement[] = [
    { Effect: "Allow", Action: [...CONSUME_ACTIONS], Resource: [access.consumesQueueArn] },
    // The log group exists before the function, so the role needs no logs:CreateLogGroup.
    { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [`${access.logGroupArn}:*`] },
  ];
  if (access.sendsToQueueArns.length > 0) statements.push({ Effect: "Allow", Action: [...SEND_ACTIONS], Resource: [...new Set(access.sendsToQueueArns)] });
  return { Version: "2012-10-17", Statement: [...statements, ...tableAndSecretStatements(access)] };
}

/** An HTTP endpoint's function: logs, its tables, its key; no queue. */
export function endpointPolicy(access: Pick<ResolvedAccess, "tables" | "secretArns" | "logGroupArn">): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [`${access.logGroupArn}:*`] }, ...tableAndSecretStatements(access)],
  };
}

function tableAndSecretStatements(access: Pick<ResolvedAccess, "tables" | "secretArns">): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const kind of ["read", "read-write"] as const) {
    const arns = access.tables.filter((table) => table.access === kind).map((table) => table.arn);
    if (arns.length > 0) statements.push({ Effect: "Allow", Action: [...TABLE_ACTIONS[kind]], Resource: arns });
  }
  if (access.secretArns.length > 0) statements.push({ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [...access.secretArns] });
  return statements;
}

/** Who may assume a function's role: the Lambda service, nothing else. */
export const LAMBDA_ASSUME_ROLE_POLICY = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
} as const;
