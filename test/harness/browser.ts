// Headless Chromium for tests that look at a page as a person would: Debian's chromium
// (bootstrap --for-tests installs it), driven by playwright-core. No browser is ever
// downloaded; each session gets a fresh profile that teardown deletes.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from '../../scripts/tools.mjs';

export const CHROMIUM_PATH = '/usr/bin/chromium';

// Needed on this machine: running as root (no sandbox), no GPU, no QUIC, and nothing that
// reaches out to the internet on its own.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Test profiles: fresh directories under the system temp directory, deleted on close.
const PROFILE_PREFIX = 'vstest-chromium-';

const screenshotDir = join(projectRoot, '.test-runs');

export interface BrowserSession {
  context: BrowserContext;
  /** The session's first tab. */
  page: Page;
  /** Saves the page as .test-runs/<name>.png and returns the file's path. */
  screenshot(name: string): Promise<string>;
  /** Closes the browser and deletes its profile; safe to call twice. */
  close(): Promise<void>;
}

/** The cookies the page's own scripts can read (document.cookie): HttpOnly ones are not among them. */
export function cookiesVisibleToScripts(page: Page): Promise<string> {
  // Runs in the page; this project compiles without the DOM's types.
  return page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie);
}

export async function openBrowser(options: { actionTimeoutMs?: number } = {}): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`${CHROMIUM_PATH} is missing: run "node scripts/bootstrap.mjs --for-tests" (npm test does this)`);
  const userDataDir = mkdtempSync(join(tmpdir(), PROFILE_PREFIX));
  const removeProfile = () => rmSync(userDataDir, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    // A persistent context is the one way to hand Chromium a profile directory we chose.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 900 },
      timeout: 30_000,
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  context.setDefaultTimeout(options.actionTimeoutMs ?? 15_000);
  const page = context.pages()[0] ?? (await context.newPage());

  let closed: Promise<void> | undefined;
  return {
    context,
    page,
    async screenshot(name) {
      mkdirSync(screenshotDir, { recursive: true });
      const path = join(screenshotDir, `${name}.png`);
      await page.screenshot({ path, fullPage: true, timeout: 5_000 });
      return path;
    },
    close() {
      closed ??= context.close().finally(removeProfile);
      return closed;
    },
  };
}
