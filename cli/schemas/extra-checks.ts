import { channelRegistry } from "../../handlers/channels";
import { compileRules, type CompiledRule } from "../../handlers/core/evaluate";
import type { ChannelAdapter } from "../../handlers/core/ports";
import { pointerSegments, rulePointers, type Rule } from "../../handlers/core/rules";
import { schemaHasPath } from "../../handlers/core/schema-paths";
import type { SchemaSet } from "../../handlers/core/schema-set";
import { templateVariablePaths } from "../../handlers/core/templates";
import { rules as shippedRules } from "../../handlers/rules";
import type { ExtraCheck, Problem } from "./check";

/**
 * Checks beyond the schemas themselves that `herald schemas check` runs: every field a
 * rule or template reads must exist in every event version the rule accepts, so that
 * removing a field a template uses fails CI instead of failing deliveries.
 */
export function schemaChecks(): ExtraCheck[] {
  return [ruleReferenceCheck(shippedRules, channelRegistry())];
}

/** The rule/template field check for a given rule set (tests pass their own). */
export function ruleReferenceCheck(rules: readonly Rule[], channels: ReadonlyMap<string, ChannelAdapter>): ExtraCheck {
  return (schemaSet: SchemaSet): Problem[] => {
    const problems: Problem[] = [];
    let compiled;
    try {
      compiled = compileRules(rules, channels);
    } catch (error) {
      return [{ file: "handlers/rules", message: (error as Error).message, hint: "fix the rule or its templates" }];
    }
    for (const { rule, templates } of compiled.all) {
      const file = `handlers/rules/${rule.name}.ts`;
      const entry = schemaSet.events[rule.eventType];
      if (!entry) {
        problems.push({ file, message: `rule "${rule.name}" is for event type "${rule.eventType}", which has no schema`, hint: "add the schema or fix the type" });
        continue;
      }
      const reads = ruleReads({ rule, templates });
      for (const version of rule.versions) {
        const schema = entry.versions[version];
        if (!schema) {
          problems.push({ file, message: `rule "${rule.name}" accepts ${rule.eventType} v${version}, which does not exist`, hint: "fix the rule's versions" });
          continue;
        }
        const reported = new Set<string>();
        for (const { path, where } of reads) {
          const field = path.join(".");
          if (reported.has(field) || schemaHasPath(schema, path)) continue;
          reported.add(field);
          problems.push({
            file,
            message: `rule "${rule.name}" reads data.${field} (${where}), which ${rule.eventType} v${version} does not declare`,
            hint: `stop reading it, or drop v${version} from the rule's versions (a rule per version if they differ)`,
          });
        }
      }
    }
    return problems;
  };
}

/** Every event data field a rule reads (path from `data`), and where: its condition and recipient pointers, its templates. */
export function ruleReads({ rule, templates }: Pick<CompiledRule, "rule" | "templates">): Array<{ path: string[]; where: string }> {
  return [
    ...rulePointers(rule).map((pointer) => ({ path: pointerSegments(pointer), where: `pointer ${pointer}` })),
    ...templateVariablePaths(templates)
      .filter((variable) => variable.path[0] === "data")
      .map((variable) => ({ path: variable.path.slice(1), where: `${variable.channel} ${variable.part} template (${variable.locale})` })),
  ];
}
