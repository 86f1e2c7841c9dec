// The Temporal Web UI, in a real Chromium, against the real API: a scan's batch workflow shows
// its input encrypted until a person signs in at the API's /login and tells the UI to send
// credentials to the codec; then decoded. Decoded, nothing in it is a vault access secret:
// those are sealed to the appliance. Signed out, encrypted again.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Response } from 'playwright-core';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { openBrowser, cookiesVisibleToScripts, type BrowserSession } from './harness/browser.js';
import {
  CODEC_STATUS,
  enableCodecCredentials,
  waitForCodecStatus,
  workflowInputBox,
  workflowPageUrl,
} from './harness/temporal-web-ui.js';
import { instantTechnology, instantVault } from './harness/simulated.js';
import { SESSION_COOKIE } from '../api/routes/session.js';
import { ENCRYPTED_ENCODING } from '../temporal/encryption-codec.js';

let env: ScanEnvironment;
let browser: BrowserSession;
const vaultToken = `hvs.ui-${randomBytes(12).toString('hex')}`;
let batch: { workflowId: string; runId: string };
let ciphertext: string;

beforeAll(async () => {
  env = await startScanEnvironment({ webUi: true });
  const appliance = (await env.api('POST', '/appliances', { name: 'ui' })).body;
  await env.startSimulatedAppliance(appliance.id, {
    vaults: () => instantVault,
    technologies: () => instantTechnology(),
  });
  await env.api('POST', '/assets', { name: 'ui hosts', value: '198.51.100.64/30' });
  const vault = await env.api('POST', '/vaults', {
    name: 'ui vault',
    type: 'hashicorp',
    config: { url: 'https://vault.example.test:8200', authMethod: 'token' },
    access: { token: vaultToken },
  });
  await env.api('POST', '/auth-records', {
    name: 'ui record',
    technology: 'unix',
    targets: '198.51.100.64/30',
    username: 'vstest-ui-scanner',
    vaultId: vault.body.id,
    locator: { path: 'servers/ui' },
    fields: { password: 'password' },
  });
  const scan = await env.api('POST', '/scans', { title: 'ui', targets: '198.51.100.64/30', applianceId: appliance.id });
  const summary = await env.client.workflow.getHandle(`scan-${scan.body.id}`).result();
  expect(summary.counts.PASSED).toBe(4);
  for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scan.body.id}"` })) {
    if (wf.workflowId !== `scan-${scan.body.id}`) batch = { workflowId: wf.workflowId, runId: wf.runId };
  }
  const history = await env.client.workflow.getHandle(batch.workflowId).fetchHistory();
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  expect(Buffer.from(input?.metadata?.encoding ?? []).toString()).toBe(ENCRYPTED_ENCODING);
  ciphertext = Buffer.from(input?.data ?? []).toString('base64');
  browser = await openBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

/** Collects, as text, every payload the UI has the codec decode from now on. */
function collectDecoded(): { decoded: string[]; stop(): void } {
  const decoded: string[] = [];
  const onResponse = (response: Response) => {
    if (!response.url().includes('/codec/decode') || response.status() !== 200) return;
    void response.json().then(
      (json: { payloads: { data?: string }[] }) => {
        for (const p of json.payloads) decoded.push(Buffer.from(p.data ?? '', 'base64').toString('utf8'));
      },
      () => undefined,
    );
  };
  browser.page.on('response', onResponse);
  return { decoded, stop: () => browser.page.off('response', onResponse) };
}

describe('the Web UI and the codec endpoint', () => {
  it('shows a batch encrypted to anyone not signed in, decoded for a signed-in person, and never a vault secret', async () => {
    onTestFailed(async () => {
      const path = await browser?.screenshot('web-ui-codec-failure').catch(() => undefined);
      if (path) console.error(`web-ui-codec: screenshot of the failure in ${path}`);
    });
    const { page, context } = browser;
    const uiUrl = env.uiUrl!;
    const batchPage = workflowPageUrl(uiUrl, batch);

    // Not signed in (even with the UI sending credentials): the codec refuses, the input stays sealed.
    await enableCodecCredentials(page, { uiUrl, codecEndpoint: `${env.apiUrl}/codec` });
    await page.goto(batchPage);
    await waitForCodecStatus(page, CODEC_STATUS.failed);
    await workflowInputBox(page).getByText(ciphertext).waitFor();
    // (The first and last address are in the workflow id; .65 is only inside the payload.)
    expect(await page.locator('body').innerText()).not.toContain('198.51.100.65');

    // A person signs in at the API with their key, as the sign-in link npm start prints.
    const auditorKey = await env.createKey('auditor', 'ui auditor');
    await page.goto(`${env.apiUrl}/login`);
    await page.getByLabel('API key').fill(auditorKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in as').waitFor();
    const session = (await context.cookies(`${env.apiUrl}/codec/decode`)).find((c) => c.name === SESSION_COOKIE);
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const { decoded, stop } = collectDecoded();
    await page.goto(batchPage);
    await waitForCodecStatus(page, CODEC_STATUS.succeeded);
    await workflowInputBox(page).getByText('"198.51.100.65"').waitFor();
    // The whole event history as JSON, every payload decoded: grants, fetches, logins, results.
    await page.getByRole('button', { name: 'JSON' }).click();
    await expect.poll(() => decoded.some((d) => d.includes('"grants"')), { timeout: 15_000 }).toBe(true);
    stop();
    expect(await cookiesVisibleToScripts(page)).not.toContain(SESSION_COOKIE);
    const text = decoded.join('\n');
    expect(text).toContain('vstest-ui-scanner'); // the batch's plans, decoded
    expect(text).toContain('"grants"'); // the sealed grants are there, still sealed
    expect(text).not.toContain(vaultToken);
    expect(await page.locator('body').innerText()).not.toContain(vaultToken);

    // Signed out: sealed again.
    await page.goto(`${env.apiUrl}/login`);
    await context.clearCookies();
    await page.goto(batchPage);
    await waitForCodecStatus(page, CODEC_STATUS.failed);
    await workflowInputBox(page).getByText(ciphertext).waitFor();
  });
});
