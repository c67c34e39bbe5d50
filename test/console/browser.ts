/**
 * A real headless browser for the console tests: Debian's chromium driven by
 * playwright-core. A missing chromium fails the tests with how to install it (`.ci/run`
 * does), never skips them.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.HERALD_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = join(__dirname, "screenshots");

/**
 * Without the background-networking flags Chromium keeps trying to reach Google's
 * services, which floods a machine that has no route out. Playwright adds `--headless`
 * and a fresh temporary `--user-data-dir` itself (it refuses one in `args`).
 */
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the console tests need a Chromium at ${CHROMIUM}: install Debian's package (apt-get update && apt-get install -y chromium), as .ci/run does, or point HERALD_CHROMIUM at one`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
}

/**
 * Launches the browser for a suite in `beforeAll`, without failing the hook: a hook's
 * failure only skips the tests, so `ready()` (call it in `beforeEach`) throws the launch
 * error in every test instead, and each one fails saying what is missing.
 */
export function sharedBrowser(): { launch(): Promise<Browser | undefined>; ready(): void } {
  let failure: unknown;
  return {
    launch: () =>
      launchBrowser().catch((error: unknown) => {
        failure = error;
        return undefined;
      }),
    ready() {
      if (failure) throw failure;
    },
  };
}

/** Saves a full-page screenshot as `test/console/screenshots/<name>.png` (the folder is gitignored). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Every request the page makes, so a test can prove none left the runtime's origin, and
 * every console error (a CSP violation is one).
 */
export function watchPage(page: Page, origin: string): { foreign: string[]; errors: string[]; posts: string[] } {
  const seen = { foreign: [] as string[], errors: [] as string[], posts: [] as string[] };
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("about:")) seen.foreign.push(url);
    if (request.method() === "POST") seen.posts.push(new URL(url).pathname);
  });
  page.on("console", (message) => {
    if (message.type() === "error") seen.errors.push(message.text());
  });
  page.on("pageerror", (error) => seen.errors.push(error.message));
  return seen;
}
