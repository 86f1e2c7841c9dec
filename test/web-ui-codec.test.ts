// The Temporal Web UI shows a workflow's encrypted input decoded only when the codec endpoint
// consents: the browser holds a sign-in cookie and the UI has been told to send cookies with
// its codec calls. A real dev server with its UI and a real Chromium; the codec endpoint is
// a stand-in for the API's (see harness/stand-in-codec-server.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Client } from '@temporalio/client';
import { startTemporalDevServer, type TemporalDevServer } from '../workers/embedded/temporal-dev-server.js';
import { connectClient } from '../workers/temporal/connection.js';
import { createDataConverter } from '../workers/temporal/data-converter.js';
import { EncryptionCodec, ENCRYPTED_ENCODING } from '../workers/temporal/encryption-codec.js';
import { parseKeyring } from '../workers/temporal/keyring.js';
import { freePort } from '../workers/net.js';
import { cookiesVisibleToScripts, openBrowser, type BrowserSession } from './harness/browser.js';
import {
  CODEC_STATUS,
  enableCodecCredentials,
  readCodecSettings,
  waitForCodecStatus,
  workflowInputBox,
  workflowPageUrl,
} from './harness/temporal-web-ui.js';
import { SESSION_COOKIE, startStandInCodecServer, type StandInCodecServer } from './harness/stand-in-codec-server.js';

interface StartedWorkflow {
  workflowId: string;
  runId: string;
}

/** The workflow's input as the server stores it: its encoding and its bytes in base64. */
async function storedInput(client: Client, workflow: StartedWorkflow) {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: workflow,
  });
  const payload = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return {
    encoding: Buffer.from(payload?.metadata?.encoding ?? []).toString(),
    base64: Buffer.from(payload?.data ?? []).toString('base64'),
  };
}

describe('the Web UI shows payloads decoded only for a signed-in browser that sends its cookie', () => {
  let codecServer: StandInCodecServer;
  let dev: TemporalDevServer;
  let client: Client;
  let browser: BrowserSession;
  let uiUrl: string;
  let workflow: StartedWorkflow;
  const plaintext = `decoded-${randomBytes(6).toString('hex')}`;
  let ciphertext: string;

  beforeAll(async () => {
    const keyring = parseKeyring(`ui-test:${randomBytes(32).toString('base64')}`, 'test');
    // The codec server must know the UI's origin before the UI is told the codec's address.
    const uiPort = await freePort();
    uiUrl = `http://127.0.0.1:${uiPort}`;
    codecServer = await startStandInCodecServer({ codec: new EncryptionCodec(keyring), uiOrigin: uiUrl });
    dev = await startTemporalDevServer({ uiPort, codecEndpoint: codecServer.codecEndpoint });
    client = await connectClient({
      address: dev.address,
      namespace: 'default',
      dataConverter: createDataConverter(keyring),
    });
    // No worker: a started workflow already has its input in its history.
    const handle = await client.workflow.start('webUiCodecProbe', {
      taskQueue: 'vstest-no-worker',
      workflowId: `web-ui-codec-${randomBytes(4).toString('hex')}`,
      args: [{ note: plaintext }],
    });
    workflow = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    browser = await openBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await client?.connection.close();
    await dev?.stop();
    await codecServer?.close();
  });

  /** Loads the workflow's page afresh and waits until its codec call has failed. */
  async function expectInputShownEncrypted() {
    const page = browser.page;
    await page.goto(workflowPageUrl(uiUrl, workflow));
    await waitForCodecStatus(page, CODEC_STATUS.failed);
    await workflowInputBox(page).getByText(ciphertext).waitFor();
    expect(await page.locator('body').innerText()).not.toContain(plaintext);
  }

  const decodeCallsFrom = (start: number) => codecServer.decodeCalls.slice(start);

  it('shows the input encrypted without a session or without credentials, decoded with both', async () => {
    onTestFailed(async () => {
      const path = await browser?.screenshot('web-ui-codec-failure').catch(() => undefined);
      if (path) console.error(`web-ui-codec: screenshot of the failure in ${path}`);
    });
    const { page, context } = browser;

    const stored = await storedInput(client, workflow);
    expect(stored.encoding).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(stored.base64, 'base64').includes(plaintext)).toBe(false);
    ciphertext = stored.base64;

    // 1. Not signed in: the codec refuses, and the UI shows the sealed bytes.
    let mark = codecServer.decodeCalls.length;
    await expectInputShownEncrypted();
    expect(decodeCallsFrom(mark)).toContainEqual({ origin: uiUrl, withSession: false, status: 401 });

    // 2. Signed in, but the UI's codec calls do not carry cookies by default.
    await page.goto(codecServer.signInUrl);
    // Cookies ignore ports: the UI's own (_csrf) is listed here too.
    const cookie = (await context.cookies(codecServer.codecEndpoint)).find((c) => c.name === SESSION_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000);
    mark = codecServer.decodeCalls.length;
    await expectInputShownEncrypted();
    expect(decodeCallsFrom(mark).length).toBeGreaterThan(0);
    expect(decodeCallsFrom(mark).every((call) => !call.withSession)).toBe(true);
    // HttpOnly: the UI's own scripts cannot read the session (cookies ignore ports).
    expect(await cookiesVisibleToScripts(page)).not.toContain(SESSION_COOKIE);

    // 3. The person switches on "Include cross-origin credentials": the input shows decoded.
    await enableCodecCredentials(page, { uiUrl, codecEndpoint: codecServer.codecEndpoint });
    mark = codecServer.decodeCalls.length;
    await page.reload();
    await workflowInputBox(page).getByText(plaintext).waitFor();
    await waitForCodecStatus(page, CODEC_STATUS.succeeded);
    // The UI and the codec are different origins on one site (ports do not count for
    // SameSite), so even a SameSite=Strict cookie rides the credentialed cross-origin call.
    const codecOrigin = new URL(codecServer.codecEndpoint).origin;
    expect(codecOrigin).not.toBe(uiUrl);
    expect(new URL(codecOrigin).hostname).toBe(new URL(uiUrl).hostname);
    expect(decodeCallsFrom(mark)).toContainEqual({ origin: uiUrl, withSession: true, status: 200 });

    // 4. Signed out, credentials still on: encrypted again, so the cookie is what decides.
    await context.clearCookies();
    mark = codecServer.decodeCalls.length;
    await expectInputShownEncrypted();
    expect(await readCodecSettings(page)).toMatchObject({ override: true, includeCredentials: true });
    expect(decodeCallsFrom(mark)).toContainEqual({ origin: uiUrl, withSession: false, status: 401 });
  });
});
