// A real OpenBao dev server (the HashiCorp Vault API) for tests, on a free loopback port,
// plus the few admin calls the tests need, made over its HTTP API with the root token.
// With `tls`, it also listens on HTTPS (tlsUrl) with the given certificate: what TLS-certificate
// login needs; the admin calls stay on the plain listener.
// A dev server keeps everything in memory; down() and up() stop it and start it again on the
// same ports, and up() makes again what the helpers below made (KV items, policies, tokens with
// the same ids, AppRoles with the same ids, quotas), as a vault with storage would still have it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baoPath } from '../../scripts/tools.mjs';
import { freePort, waitForPort } from '../../runtime/net.js';

export interface OpenBaoServer {
  url: string;
  /** The HTTPS listener's URL, when started with `tls`. */
  tlsUrl?: string;
  rootToken: string;
  request(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  writeKv2(mount: string, path: string, data: Record<string, unknown>): Promise<void>;
  writeKv1(mount: string, path: string, data: Record<string, unknown>): Promise<void>;
  enableKv1(mount: string): Promise<void>;
  /** A token with one policy made from the given HCL. */
  createToken(policies: string[], policyHcl?: string): Promise<string>;
  createAppRole(name: string, policyHcl: string): Promise<{ roleId: string; secretId: string }>;
  /**
   * A rate-limit quota (sys/quotas/rate-limit): `rate` requests per `interval` on `path` (a
   * mount, or a path in one), answered 429 beyond that, with Retry-After (response headers on).
   */
  setRateLimit(name: string, quota: { rate: number; interval: string; path: string }): Promise<void>;
  removeRateLimit(name: string): Promise<void>;
  seal(): Promise<void>;
  /** Stops the server (SIGTERM, or SIGKILL as a crash would); its ports refuse connections until up(). */
  down(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and makes again what the helpers had made. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const live = new Set<() => void>();
process.once('exit', () => live.forEach((kill) => kill()));

/** A free port whose successor is free too: each listener also takes port+1 for its cluster address. */
async function freePortPair(): Promise<number> {
  let port = await freePort();
  while (!(await portIsFree(port + 1))) port = await freePort();
  return port;
}

export interface OpenBaoOptions {
  /** PEM files (paths) of the HTTPS listener's certificate and key. */
  tls?: { certFile: string; keyFile: string };
}

export async function startOpenBao(options: OpenBaoOptions = {}): Promise<OpenBaoServer> {
  const bin = baoPath();
  if (!existsSync(bin))
    throw new Error(`OpenBao is not installed at ${bin}: run "node scripts/bootstrap.mjs --for-tests"`);
  const port = await freePortPair();
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  // Dev mode merges -config files into its own: the TLS listener is added beside the plain one.
  // The listener asks for (but does not require) a client certificate, as cert auth needs.
  let tlsPort: number | undefined;
  let configDir: string | undefined;
  const configArgs: string[] = [];
  if (options.tls) {
    tlsPort = await freePortPair();
    while (tlsPort === port || tlsPort === port + 1 || tlsPort + 1 === port) tlsPort = await freePortPair();
    configDir = mkdtempSync(join(tmpdir(), 'vstest-bao-'));
    const file = join(configDir, 'tls-listener.json');
    writeFileSync(
      file,
      JSON.stringify({
        listener: [
          {
            tcp: {
              address: `127.0.0.1:${tlsPort}`,
              cluster_address: `127.0.0.1:${tlsPort + 1}`,
              tls_cert_file: options.tls.certFile,
              tls_key_file: options.tls.keyFile,
            },
          },
        ],
      }),
    );
    configArgs.push(`-config=${file}`);
  }
  let output = '';
  const launch = () => {
    const started = spawn(
      bin,
      [
        'server',
        '-dev',
        `-dev-root-token-id=${rootToken}`,
        `-dev-listen-address=127.0.0.1:${port}`,
        '-dev-no-store-token',
        ...configArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: process.env.HOME ?? '/root', BAO_ADDR: '', VAULT_ADDR: '' },
      },
    );
    started.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    started.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    return { child: started, exited: new Promise<void>((resolve) => started.once('exit', () => resolve())) };
  };
  let { child, exited } = launch();
  const removeConfig = () => configDir && rmSync(configDir, { recursive: true, force: true });
  const kill = () => {
    child.kill('SIGKILL');
    removeConfig();
  };
  live.add(kill);
  const url = `http://127.0.0.1:${port}`;
  /** The changes the helpers made, in order: made again by up(). */
  const journal: { method: string; path: string; body?: unknown }[] = [];

  const request = async (method: string, path: string, body?: unknown, token = rootToken) => {
    const res = await fetch(`${url}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const ok = async (method: string, path: string, body?: unknown, replay = method !== 'GET') => {
    const res = await request(method, path, body);
    if (res.status >= 300)
      throw new Error(`OpenBao ${method} ${path} answered ${res.status}: ${JSON.stringify(res.json?.errors)}`);
    if (replay) journal.push({ method, path, body });
    return res.json;
  };

  const ready = async () => {
    try {
      await waitForPort('127.0.0.1', port, 30_000, () => child.exitCode === null);
      if (tlsPort !== undefined) await waitForPort('127.0.0.1', tlsPort, 30_000, () => child.exitCode === null);
      for (let i = 0; i < 100; i++) {
        const health = await fetch(`${url}/v1/sys/health`).catch(() => undefined);
        if (health?.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      kill();
      throw new Error(`OpenBao did not start: ${(err as Error).message}\n${output}`);
    }
  };
  await ready();

  let policies = 0;
  return {
    url,
    ...(tlsPort !== undefined && { tlsUrl: `https://127.0.0.1:${tlsPort}` }),
    rootToken,
    request,
    async writeKv2(mount, path, data) {
      await ok('POST', `${mount}/data/${path}`, { data });
    },
    async writeKv1(mount, path, data) {
      await ok('POST', `${mount}/${path}`, data);
    },
    async enableKv1(mount) {
      await ok('POST', `sys/mounts/${mount}`, { type: 'kv', options: { version: '1' } });
    },
    async createToken(names, policyHcl) {
      if (policyHcl) for (const name of names) await ok('PUT', `sys/policies/acl/${name}`, { policy: policyHcl });
      // The id is chosen here (as root may), so up() can make the same token again.
      const id = `vstest-${randomBytes(18).toString('base64url')}`;
      const json = await ok('POST', 'auth/token/create', { id, policies: names, ttl: '1h' });
      return json.auth.client_token as string;
    },
    async createAppRole(name, policyHcl) {
      const policy = `approle-${name}-${++policies}`;
      await ok('PUT', `sys/policies/acl/${policy}`, { policy: policyHcl });
      const mounts = await ok('GET', 'sys/auth');
      if (!mounts['approle/'] && !mounts.data?.['approle/']) await ok('POST', 'sys/auth/approle', { type: 'approle' });
      await ok('POST', `auth/approle/role/${name}`, { token_policies: [policy], token_ttl: '10m' });
      const roleId = (await ok('GET', `auth/approle/role/${name}/role-id`)).data.role_id as string;
      const secretId = (await ok('POST', `auth/approle/role/${name}/secret-id`, undefined, false)).data
        .secret_id as string;
      journal.push({ method: 'POST', path: `auth/approle/role/${name}/role-id`, body: { role_id: roleId } });
      journal.push({
        method: 'POST',
        path: `auth/approle/role/${name}/custom-secret-id`,
        body: { secret_id: secretId },
      });
      return { roleId, secretId };
    },
    async setRateLimit(name, quota) {
      await ok('POST', 'sys/quotas/config', { enable_rate_limit_response_headers: true });
      await ok('POST', `sys/quotas/rate-limit/${name}`, quota);
    },
    async removeRateLimit(name) {
      await ok('DELETE', `sys/quotas/rate-limit/${name}`);
    },
    async seal() {
      await ok('PUT', 'sys/seal', undefined, false);
    },
    async down(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
    async up() {
      if (child.exitCode === null && child.signalCode === null) return;
      ({ child, exited } = launch());
      await ready();
      for (const { method, path, body } of journal) {
        const res = await request(method, path, body);
        if (res.status >= 300)
          throw new Error(`OpenBao did not take ${method} ${path} again: ${JSON.stringify(res.json?.errors)}`);
      }
    },
    async stop() {
      live.delete(kill);
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(kill, 5_000);
      await exited;
      clearTimeout(timer);
      removeConfig();
    },
  };
}
