/**
 * A schema set's validators as Ajv standalone code: an ES module exporting `validators`,
 * `{ "<schema id>": validate }` for every schema the registry registers, compiled in the
 * registry's own configuration, for `new SchemaRegistry(schemas, { precompiled })`. Used
 * at build time (function bundles), never at run time: it loads Ajv's code generator.
 */
import standaloneCode from "ajv/dist/standalone";
import { createAjv, schemaSources } from "./schema-registry";
import type { SchemaSet } from "./schema-set";

export function standaloneValidatorsSource(schemas: SchemaSet): string {
  const ajv = createAjv("fast", { checkSchemas: false, standaloneCode: true });
  const sources = schemaSources(schemas);
  const names = new Map(sources.map(([id], index) => [id, `validate_${index}`]));
  for (const [id, schema] of sources) ajv.addSchema(schema as object, id);
  const code = standaloneCode(ajv, Object.fromEntries([...names].map(([id, name]) => [name, id])));
  const table = [...names].map(([id, name]) => `  ${JSON.stringify(id)}: ${name},`).join("\n");
  return `${code}\nexport const validators = {\n${table}\n};\n`;
}
