// What a person does and sees in the Temporal Web UI that `temporal server start-dev` embeds
// (UI 2.54.1 with the pinned CLI 1.9.1). Labels are the UI's own English texts, so a UI
// upgrade that renames them fails here, by name, rather than somewhere in a test.
import type { Locator, Page } from 'playwright-core';

/**
 * The names the top bar's codec button takes (its aria-label), one per state of the last
 * codec call of the page. "succesfully" is the UI's own spelling.
 */
export const CODEC_STATUS = {
  notConfigured: 'Configure Codec Server',
  notCalledYet: 'Codec Server is configured',
  failed: 'Codec Server could not connect',
  succeeded: 'Codec Server succesfully converted content',
} as const;

/**
 * The localStorage keys (JSON values) of the UI's per-browser codec setting. The browser's
 * endpoint and its credentials choice count only while the override is true: otherwise the
 * server's settings rule, and the dev server can never say "include credentials".
 */
export const CODEC_STORAGE_KEYS = {
  override: 'overrideRemoteCodecConfiguration',
  endpoint: 'endpoint',
  passAccessToken: 'passAccessToken',
  includeCredentials: 'includeCredentials',
} as const;

type CodecSettings = Record<keyof typeof CODEC_STORAGE_KEYS, unknown>;

export function workflowPageUrl(uiUrl: string, workflow: { workflowId: string; runId: string }, namespace = 'default') {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflow.workflowId)}/${encodeURIComponent(workflow.runId)}/history`;
}

/** The read-only "Input" box of a workflow's page. */
export function workflowInputBox(page: Page): Locator {
  return page.getByRole('textbox', { name: 'Input', exact: true });
}

/** Resolves once the top bar's codec button says the page's codec calls ended in `status`. */
export async function waitForCodecStatus(page: Page, status: (typeof CODEC_STATUS)[keyof typeof CODEC_STATUS]) {
  await page.getByRole('button', { name: status, exact: true }).waitFor();
}

/** The UI's codec setting as this browser stores it. */
export function readCodecSettings(page: Page): Promise<CodecSettings> {
  return page.evaluate((keys) => {
    // Runs in the page; this project compiles without the DOM's types.
    const { localStorage } = globalThis as unknown as { localStorage: { getItem(key: string): string | null } };
    const read = (key: string) => {
      const raw = localStorage.getItem(key);
      return raw === null ? null : (JSON.parse(raw) as unknown);
    };
    return {
      override: read(keys.override),
      endpoint: read(keys.endpoint),
      passAccessToken: read(keys.passAccessToken),
      includeCredentials: read(keys.includeCredentials),
    };
  }, CODEC_STORAGE_KEYS);
}

/**
 * Makes the UI send the browser's cookies with its codec calls, as a person does: the codec
 * button in the top bar, "Use my browser setting and ignore Cluster-level setting.", the
 * endpoint pasted into "Codec Server browser endpoint", "Include cross-origin credentials"
 * switched on, "Apply". The setting is kept per browser; reload to see payloads decoded.
 */
export async function enableCodecCredentials(page: Page, options: { uiUrl: string; codecEndpoint: string }) {
  if (!page.url().startsWith(options.uiUrl)) await page.goto(options.uiUrl);
  await page.getByRole('button', { name: /codec server/i }).click();
  const dialog = page.getByRole('dialog').filter({ has: page.getByRole('heading', { name: 'Codec Server' }) });
  await dialog.getByLabel('Use my browser setting and ignore Cluster-level setting.').check();
  await dialog.getByLabel('Codec Server browser endpoint').fill(options.codecEndpoint);
  // The switch's own checkbox lies under its drawn toggle; a person clicks its label.
  const includeCredentials = dialog.getByRole('switch', { name: 'Include cross-origin credentials' });
  if (!(await includeCredentials.isChecked())) await dialog.getByText('Include cross-origin credentials').click();
  if (!(await includeCredentials.isChecked())) throw new Error('"Include cross-origin credentials" did not switch on');
  await dialog.getByRole('button', { name: 'Apply', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });

  const stored = await readCodecSettings(page);
  const endpoint = options.codecEndpoint.replace(/\/+$/, ''); // the UI drops a trailing slash
  if (stored.override !== true || stored.endpoint !== endpoint || stored.includeCredentials !== true)
    throw new Error(
      `the Web UI did not keep the codec setting that was applied (localStorage: ${JSON.stringify(stored)}); has its settings dialog changed?`,
    );
}
