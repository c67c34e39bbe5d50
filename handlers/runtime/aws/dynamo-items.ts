/**
 * DynamoDB's JSON shapes the stores use (the wire format of the DynamoDB JSON protocol,
 * which is also what SDK v3 commands take), and the refusals they branch on.
 */
import { awsErrorCode, type AwsRequestError } from "./aws-json-client";

/** One attribute value; the stores use strings, numbers and string sets. */
export interface AttributeValue {
  readonly S?: string;
  readonly N?: string;
  readonly SS?: readonly string[];
  readonly BOOL?: boolean;
  readonly NULL?: boolean;
}

export type DynamoItem = Readonly<Record<string, AttributeValue>>;

/** The condition parts of a conditional write. */
export interface ConditionParts {
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames?: Readonly<Record<string, string>>;
  readonly ExpressionAttributeValues?: Readonly<Record<string, AttributeValue>>;
}

/** One action of a TransactWriteItems call. */
export type TransactWriteItem =
  | { readonly Put: { readonly TableName: string; readonly Item: DynamoItem } & ConditionParts }
  | { readonly Delete: { readonly TableName: string; readonly Key: DynamoItem } & ConditionParts }
  | {
      readonly Update: { readonly TableName: string; readonly Key: DynamoItem; readonly UpdateExpression: string } & ConditionParts;
    };

/** A conditional write whose condition did not hold (the item, when asked for, is in `error.aws.body.Item`). */
export function isConditionFailure(error: unknown): error is AwsRequestError {
  return awsErrorCode(error) === "ConditionalCheckFailedException";
}

/** A transaction that was cancelled; `reasons` has one code per action (`None` for the ones that were fine). */
export function transactionCancellation(error: unknown): readonly string[] | undefined {
  if (awsErrorCode(error) !== "TransactionCanceledException") return undefined;
  const reasons = (error as AwsRequestError).aws.body.CancellationReasons as ReadonlyArray<{ Code?: string }> | undefined;
  return (reasons ?? []).map((reason) => reason.Code ?? "None");
}
