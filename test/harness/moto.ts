// A real AWS Secrets Manager API for tests: moto's server mode (PyPI moto[server], installed
// into tools/venv by bootstrap) on a free loopback port, plus the few admin calls the tests
// need. With `authenticatedAfter: N` moto checks SigV4 and IAM policies after the first N
// calls (INITIAL_NO_AUTH_ACTION_COUNT), which the IAM setup helpers spend.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { venvBin } from '../../scripts/tools.mjs';
import { freePort, waitForPort } from '../../runtime/net.js';

export const MOTO_REGION = 'us-east-1';
export const MOTO_ACCOUNT = '123456789012';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface MotoServer {
  url: string;
  /** An SDK client for setting up secrets (as the admin user when moto checks IAM). */
  admin: SecretsManagerClient;
  createSecret(name: string, value: string | Buffer): Promise<{ arn: string; versionId: string }>;
  putSecretValue(name: string, value: string): Promise<{ versionId: string }>;
  deleteSecret(name: string): Promise<void>;
  /** IAM (query API, before authentication starts): a user with an inline policy, and its access key. */
  createUser(name: string, policy: object): Promise<AccessKey>;
  /** IAM: a role the given principal (a user's ARN) may assume, with an inline policy. */
  createRole(name: string, policy: object, trustedPrincipal: string): Promise<string>;
  stop(): Promise<void>;
}

const live = new Set<() => void>();
process.once('exit', () => live.forEach((kill) => kill()));

/** Any well-formed key works while moto does not check (before authentication starts, or never). */
const SETUP_KEY: AccessKey = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'moto-setup-key' };

export async function startMoto(options: { authenticatedAfter?: number } = {}): Promise<MotoServer> {
  const bin = venvBin('moto_server');
  if (!existsSync(bin))
    throw new Error(`moto is not installed at ${bin}: run "node scripts/bootstrap.mjs --for-tests"`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.INITIAL_NO_AUTH_ACTION_COUNT;
  if (options.authenticatedAfter !== undefined) env.INITIAL_NO_AUTH_ACTION_COUNT = String(options.authenticatedAfter);
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => child.kill('SIGKILL');
  live.add(kill);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPort('127.0.0.1', port, 60_000, () => child.exitCode === null);
  } catch (err) {
    kill();
    throw new Error(`moto did not start: ${(err as Error).message}\n${output}`);
  }

  let adminKey = SETUP_KEY;
  const client = (key: AccessKey) =>
    new SecretsManagerClient({ region: MOTO_REGION, endpoint: url, credentials: key, maxAttempts: 1 });
  let admin = client(adminKey);

  /** One IAM query-API call; unsigned, so only while moto does not check yet. */
  const iam = async (params: Record<string, string>) => {
    const res = await fetch(`${url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        // moto routes by the credential scope's service; the signature is not checked yet.
        authorization: `AWS4-HMAC-SHA256 Credential=${SETUP_KEY.accessKeyId}/20260101/${MOTO_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: new URLSearchParams({ Version: '2010-05-08', ...params }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`moto IAM ${params.Action} answered ${res.status}: ${text.slice(0, 300)}`);
    return text;
  };
  const tag = (xml: string, name: string) => {
    const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
    if (!m?.[1]) throw new Error(`moto's answer has no <${name}>`);
    return m[1];
  };

  const server: MotoServer = {
    url,
    get admin() {
      return admin;
    },
    async createSecret(name, value) {
      const out = await admin.send(
        new CreateSecretCommand(
          typeof value === 'string' ? { Name: name, SecretString: value } : { Name: name, SecretBinary: value },
        ),
      );
      return { arn: out.ARN ?? '', versionId: out.VersionId ?? '' };
    },
    async putSecretValue(name, value) {
      const out = await admin.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
      return { versionId: out.VersionId ?? '' };
    },
    async deleteSecret(name) {
      await admin.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    },
    async createUser(name, policy) {
      await iam({ Action: 'CreateUser', UserName: name });
      const key = await iam({ Action: 'CreateAccessKey', UserName: name });
      await iam({
        Action: 'PutUserPolicy',
        UserName: name,
        PolicyName: `${name}-policy`,
        PolicyDocument: JSON.stringify(policy),
      });
      return { accessKeyId: tag(key, 'AccessKeyId'), secretAccessKey: tag(key, 'SecretAccessKey') };
    },
    async createRole(name, policy, trustedPrincipal) {
      // moto matches a trust policy's principal literally (an account's :root does not cover its users).
      const trust = {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: trustedPrincipal }, Action: 'sts:AssumeRole' }],
      };
      const role = await iam({ Action: 'CreateRole', RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trust) });
      await iam({
        Action: 'PutRolePolicy',
        RoleName: name,
        PolicyName: `${name}-policy`,
        PolicyDocument: JSON.stringify(policy),
      });
      return tag(role, 'Arn');
    },
    async stop() {
      live.delete(kill);
      admin.destroy();
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(kill, 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  if (options.authenticatedAfter !== undefined) {
    // The admin is the first user made: everything after it is signed with its key.
    adminKey = await server.createUser('vstest-admin', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    });
    admin.destroy();
    admin = client(adminKey);
  }
  return server;
}
