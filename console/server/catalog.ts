/**
 * The Schemas and rules page's data: every event type and version, its compatibility
 * mode, its example envelopes, and which rules and templates read which data fields (the
 * same reads `herald schemas check` verifies), with the versions that declare each field.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ruleReads } from "../../cli/schemas/extra-checks";
import type { CompiledRules } from "../../handlers/core/evaluate";
import { schemaHasPath } from "../../handlers/core/schema-paths";
import { DEFAULT_COMPATIBILITY, versionsOf, type SchemaSet } from "../../handlers/core/schema-set";
import type { CatalogType } from "./views";

const EVENTS_DIR = resolve(__dirname, "..", "..", "schemas", "events");

export function catalog(schemas: SchemaSet, rules: CompiledRules): CatalogType[] {
  return Object.keys(schemas.events)
    .sort()
    .map((type) => {
      const entry = schemas.events[type]!;
      const versions = versionsOf(entry);
      const meta = entry.meta as { description?: string; owner?: string; compatibility?: string };
      return {
        type,
        ...(meta.description ? { description: meta.description } : {}),
        ...(meta.owner ? { owner: meta.owner } : {}),
        compatibility: meta.compatibility ?? DEFAULT_COMPATIBILITY,
        versions: versions.map((version) => ({ version, schema: entry.versions[version] })),
        examples: examplesOf(type),
        rules: (rules.byEventType.get(type) ?? []).map((compiled) => {
          const fields = new Map<string, { path: string[]; where: string[] }>();
          for (const { path, where } of ruleReads(compiled)) {
            const field = path.join(".");
            const found = fields.get(field) ?? { path, where: [] };
            if (!found.where.includes(where)) found.where.push(where);
            fields.set(field, found);
          }
          return {
            rule: compiled.rule.name,
            versions: [...compiled.rule.versions],
            channels: compiled.channels.map((channel) => channel.adapter.name),
            reads: [...fields.entries()].map(([field, { path, where }]) => ({
              field: `data.${field}`,
              where: byLocale(where),
              declaredIn: versions.filter((version) => schemaHasPath(entry.versions[version]!, path)),
            })),
          };
        }),
      };
    });
}

/** "email html template (en)", "email html template (de)" → "email html template (en, de)". */
function byLocale(where: readonly string[]): string[] {
  const grouped = new Map<string, string[]>();
  for (const place of where) {
    const [, what, locale] = /^(.*) \(([^)]+)\)$/.exec(place) ?? [place, place, undefined];
    const locales = grouped.get(what!) ?? [];
    if (locale) locales.push(locale);
    grouped.set(what!, locales);
  }
  return [...grouped].map(([what, locales]) => (locales.length > 0 ? `${what} (${locales.join(", ")})` : what));
}

/** The shipped example envelopes of a type, read from `schemas/events/<type>/examples/`. */
export function examplesOf(type: string): Array<{ file: string; event: unknown }> {
  const dir = join(EVENTS_DIR, type, "examples");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({ file, event: JSON.parse(readFileSync(join(dir, file), "utf8")) as unknown }));
}
