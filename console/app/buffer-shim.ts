/**
 * The one piece of Node's Buffer that core's envelope code uses, for the page (esbuild
 * injects this wherever the bundle names `Buffer`): byte lengths of UTF-8 text.
 */
const encoder = new TextEncoder();

export const Buffer = {
  byteLength(text: string | Uint8Array): number {
    return typeof text === "string" ? encoder.encode(text).byteLength : text.byteLength;
  },
  from(bytes: Uint8Array): { toString(encoding: "utf8"): string } {
    return { toString: () => new TextDecoder().decode(bytes) };
  },
};
