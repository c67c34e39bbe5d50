/**
 * What every cloud's rules function evaluates with: the shipped (or given) rules compiled
 * against the channel registry, the schema registry, and the target's directory and
 * limiter. Built once per container, at cold start.
 */
import { channelRegistry, channels as registeredChannels } from "../../channels";
import { compileRules, type EvaluationContext } from "../../core/evaluate";
import type { FrequencyLimiter, PolicyConfig } from "../../core/policies";
import type { ChannelAdapter } from "../../core/ports";
import type { RecipientDirectory } from "../../core/recipients";
import type { Rule } from "../../core/rules";
import { SchemaRegistry } from "../../core/schema-registry";
import type { SchemaSet } from "../../core/schema-set";
import type { UnsubscribeConfig } from "../../core/unsubscribe";
import { rules as shippedRules } from "../../rules";
import { schemaSet as shippedSchemas } from "../../../schemas/generated/schema-set";
import { shippedValidators } from "./shipped-validators";

/** What tests (or a team's own build) may swap in; the shipped ones otherwise. */
export interface RulesDefinitionDeps {
  readonly channels?: readonly ChannelAdapter[];
  readonly rules?: readonly Rule[];
  readonly schemas?: SchemaSet;
  readonly policy?: PolicyConfig;
}

/** The channel registry the function fans out to (its queue or topic names are read per channel). */
export function rulesChannels(deps: RulesDefinitionDeps): ReadonlyMap<string, ChannelAdapter> {
  return channelRegistry(deps.channels ?? registeredChannels);
}

export function rulesEvaluation(
  deps: RulesDefinitionDeps,
  parts: {
    readonly channels: ReadonlyMap<string, ChannelAdapter>;
    readonly directory: RecipientDirectory;
    readonly limiter: FrequencyLimiter;
    readonly now: () => number;
    readonly unsubscribe?: UnsubscribeConfig;
  },
): EvaluationContext {
  return {
    // The shipped schemas and rules are checked in full by CI (`herald schemas check`
    // compiles every rule and template): a bundle brings their validators precompiled,
    // and their templates are parsed per channel on first use, not all at cold start.
    registry: deps.schemas ? new SchemaRegistry(deps.schemas) : shippedRegistry(),
    rules: compileRules(deps.rules ?? shippedRules, parts.channels, { lazyTemplates: deps.rules === undefined }),
    directory: parts.directory,
    limiter: parts.limiter,
    now: parts.now,
    ...(deps.policy ? { policy: deps.policy } : {}),
    ...(parts.unsubscribe ? { unsubscribe: parts.unsubscribe } : {}),
  };
}

function shippedRegistry(): SchemaRegistry {
  const precompiled = shippedValidators();
  return new SchemaRegistry(shippedSchemas, precompiled ? { precompiled } : {});
}
