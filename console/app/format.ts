/** Small display helpers shared by the pages. */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A time of day for an epoch-ms or ISO time, with the date when it is not today. */
export function time(at: number | string): string {
  const date = new Date(at);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

/** Pretty JSON for a `<pre>`. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
