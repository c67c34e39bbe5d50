/**
 * The Pulumi program (`main` in Pulumi.yaml). Wiring only: plan the stack for the
 * registered channels from the stack config (failing early on a mistake), declare it,
 * export its outputs.
 */
import { channels } from "../handlers/channels";
import { declareStack, planStack } from "./stack";

const stack = declareStack(planStack(channels));

export const cloud = stack.cloud;
export const eventTypes = stack.eventTypes;
export const topicArn = stack.topicArn;
export const queueUrls = stack.queueUrls;
export const deadLetterQueueUrls = stack.deadLetterQueueUrls;
export const tableNames = stack.tableNames;
export const alarmTopicArn = stack.alarmTopicArn;
export const unsubscribeUrl = stack.unsubscribeUrl;
export const effectiveConcurrency = stack.effectiveConcurrency;
