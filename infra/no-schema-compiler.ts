/**
 * Stands in for Ajv's compiler (`ajv/dist/2020`) and `ajv-formats` in a function bundle
 * whose schema validators are precompiled (see `bundleShim` in bundle.ts): the registry
 * never constructs them there, and leaving them out saves their load at every cold start.
 */
export default function noSchemaCompiler(): never {
  throw new Error("this function bundle compiles no schemas: its validators are precompiled");
}
