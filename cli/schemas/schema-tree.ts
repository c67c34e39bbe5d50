import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { UsageError } from "../usage-error";

/** A JSON file as read from disk: its value, or why it could not be parsed. */
export interface JsonFile {
  /** Path as shown to the user (relative to the working directory). */
  readonly path: string;
  readonly value?: unknown;
  readonly error?: string;
}

export interface EventTypeFiles {
  readonly type: string;
  readonly dir: string;
  readonly meta?: JsonFile;
  readonly versions: ReadonlyMap<number, JsonFile>;
  readonly examples: readonly JsonFile[];
}

/** Everything under `schemas/`, parsed but not yet judged. */
export interface SchemaTree {
  readonly dir: string;
  readonly envelope?: JsonFile;
  readonly events: ReadonlyMap<string, EventTypeFiles>;
  readonly messages: ReadonlyMap<string, ReadonlyMap<number, JsonFile>>;
  readonly lock?: JsonFile;
  /** Files that follow no convention (wrong name, wrong place). */
  readonly stray: readonly string[];
}

export const LOCK_FILE = "schemas.lock.json";
const VERSION_FILE = /^v([1-9][0-9]{0,5})\.schema\.json$/;

/** Reads `dir` (normally `schemas/`) without deciding anything about validity. */
export function loadSchemaTree(dir: string): SchemaTree {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`schema directory ${dir} does not exist (run from your repository root, or pass --dir)`);
  }
  const stray: string[] = [];
  const events = new Map<string, EventTypeFiles>();
  const eventsDir = join(dir, "events");
  for (const type of listDir(eventsDir)) {
    const typeDir = join(eventsDir, type);
    if (!statSync(typeDir).isDirectory()) {
      stray.push(display(typeDir));
      continue;
    }
    let meta: JsonFile | undefined;
    const versions = new Map<number, JsonFile>();
    const examples: JsonFile[] = [];
    for (const name of listDir(typeDir)) {
      const file = join(typeDir, name);
      const match = VERSION_FILE.exec(name);
      if (name === "meta.json") meta = readJson(file);
      else if (match) versions.set(Number(match[1]), readJson(file));
      else if (name === "examples" && statSync(file).isDirectory()) {
        for (const example of listDir(file)) {
          if (example.endsWith(".json")) examples.push(readJson(join(file, example)));
          else stray.push(display(join(file, example)));
        }
      } else stray.push(display(file));
    }
    events.set(type, { type, dir: display(typeDir), meta, versions, examples });
  }
  const messages = new Map<string, Map<number, JsonFile>>();
  const messagesDir = join(dir, "messages");
  for (const channel of listDir(messagesDir)) {
    const channelDir = join(messagesDir, channel);
    if (!statSync(channelDir).isDirectory()) {
      stray.push(display(channelDir));
      continue;
    }
    const versions = new Map<number, JsonFile>();
    for (const name of listDir(channelDir)) {
      const match = VERSION_FILE.exec(name);
      if (match) versions.set(Number(match[1]), readJson(join(channelDir, name)));
      else stray.push(display(join(channelDir, name)));
    }
    messages.set(channel, versions);
  }
  const envelopePath = join(dir, "envelope.schema.json");
  const lockPath = join(dir, LOCK_FILE);
  return {
    dir,
    envelope: existsSync(envelopePath) ? readJson(envelopePath) : undefined,
    events,
    messages,
    lock: existsSync(lockPath) ? readJson(lockPath) : undefined,
    stray,
  };
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Reads and parses a JSON file, turning a syntax error into "line L, column C: reason". */
export function readJson(file: string): JsonFile {
  const path = display(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return { path, error: `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  }
  try {
    return { path, value: JSON.parse(text) };
  } catch (error) {
    return { path, error: `malformed JSON: ${locateJsonError(text, error as Error)}` };
  }
}

function locateJsonError(text: string, error: Error): string {
  const position = /position (\d+)/.exec(error.message);
  if (!position) return error.message;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${column}: ${error.message.replace(/ in JSON at position \d+.*$/, "").replace(/ \(line \d+ column \d+\)$/, "")}`;
}

function display(file: string): string {
  return relative(process.cwd(), file) || file;
}
