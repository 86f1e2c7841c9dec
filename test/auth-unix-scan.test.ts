// Unix settings end to end, through the API, a real appliance process and real sshd hosts with
// passwords in OpenBao: the settings checked by the API (400 naming the field), the host-key
// policies (strict: only a key an operator registered, a learned one not; off: logged in and
// flagged), a sudo without the rights the collection needs (the sudoers rule in the report's
// cause), and su with the root password read from a vault item of its own (rootDelegation).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';

const tag = randomBytes(3).toString('hex');
const secret = (p: string) => `${p}-${randomBytes(9).toString('hex')}`;
const admin = { name: `vstest-sa-${tag}`, password: secret('sa') };
const limited = { name: `vstest-sl-${tag}`, password: secret('sl') };
const suUser = { name: `vstest-ss-${tag}`, password: secret('ss') };
const ROOT_PASSWORD = secret('root');
const SECRETS = [admin.password, limited.password, suUser.password, ROOT_PASSWORD];
const ROOT_COMMANDS = '/usr/bin/id -u, /usr/sbin/sshd -T, /usr/bin/passwd -S -a';
const WRONG_KEY = 'A'.repeat(43);

const hosts = {
  strictUnknown: '127.0.7.11',
  strictRegistered: '127.0.7.12',
  off: '127.0.7.13',
  limited: '127.0.7.14',
  su: '127.0.7.15',
  learnedThenStrict: '127.0.7.16',
};
const sshds: Record<keyof typeof hosts, SshdServer> = {} as never;
let env: ScanEnvironment;
let bao: OpenBaoServer;
let applianceId: string;
let vaultId: string;
let profileId: string;

beforeAll(async () => {
  await cleanupAll();
  bao = await startOpenBao();
  env = await startScanEnvironment();
  await createTestUser({ ...admin, sudo: 'password' });
  // sudo lets it confirm root (id -u) and nothing more.
  await createTestUser({ ...limited, sudo: { commands: ['/usr/bin/id -u'] } });
  await createTestUser({ ...suUser, sudo: 'none' });
  for (const [name, address] of Object.entries(hosts) as [keyof typeof hosts, string][])
    sshds[name] = await startSshd({
      address,
      logLevel: 'INFO',
      // su's host: root's password there is the test's, in that sshd's own mount namespace.
      ...(name === 'su' && { rootPassword: ROOT_PASSWORD }),
    });
  await bao.writeKv2('secret', 'unix/admin', { password: admin.password });
  await bao.writeKv2('secret', 'unix/limited', { password: limited.password });
  await bao.writeKv2('secret', 'unix/su', { password: suUser.password });
  await bao.writeKv2('secret', 'unix/root', { password: ROOT_PASSWORD });
  const token = await bao.createToken(['unix-read'], 'path "secret/data/unix/*" { capabilities = ["read"] }');
  applianceId = (await env.api('POST', '/appliances', { name: 'unix settings' })).body.id;
  await env.startAppliance(applianceId);
  await env.api('POST', '/assets', { name: 'unix settings lab', value: '127.0.7.11-127.0.7.16' });
  const vault = await env.api('POST', '/vaults', {
    name: 'openbao unix',
    type: 'hashicorp',
    config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
    access: { token },
  });
  expect(vault.status, vault.text).toBe(201);
  vaultId = vault.body.id;
  const profile = await env.api('POST', '/option-profiles', {
    name: 'unix settings',
    technologies: ['unix'],
    maxParallelHosts: 3,
    timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 10_000 },
    retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 100 },
  });
  expect(profile.status, profile.text).toBe(201);
  profileId = profile.body.id;
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await Promise.all(Object.values(sshds).map((s) => s.stop()));
  await bao?.stop();
  await cleanupAll();
});

const record = (
  host: keyof typeof hosts,
  user: { name: string },
  path: string,
  extra: Record<string, unknown> = {},
) => ({
  name: `unix ${host}`,
  technology: 'unix',
  targets: hosts[host],
  username: user.name,
  port: sshds[host].port,
  vaultId,
  locator: { mount: 'secret', path },
  fields: { password: 'password' },
  ...extra,
});

async function scan(targets: string): Promise<string> {
  const launched = await env.api('POST', '/scans', {
    title: 'unix settings',
    targets,
    optionProfileId: profileId,
    applianceId,
  });
  expect(launched.status, launched.text).toBe(202);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = (await env.api('GET', `/scans/${launched.body.id}`)).body.status as string;
    if (['FINISHED', 'CANCELED', 'FAILED'].includes(status)) {
      expect(status).toBe('FINISHED');
      return launched.body.id;
    }
    if (Date.now() > deadline) throw new Error(`scan still ${status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

type ReportLine = {
  ip: string;
  status: string;
  errorCode: string | null;
  cause: string | null;
  remedy: string | null;
  flags: string;
};
async function reportOf(scanId: string) {
  const report = (await env.api('GET', `/scans/${scanId}/authentication-report`)).body.hosts as ReportLine[];
  const results = (await env.api('GET', `/scans/${scanId}/results`)).body.items as {
    ip: string;
    flags: string[];
    collected: { facts: Record<string, string> } | null;
  }[];
  return {
    report: Object.fromEntries(report.map((h) => [h.ip, h])),
    results: Object.fromEntries(results.map((r) => [r.ip, r])),
  };
}

const pinnedKeys = async () =>
  (
    (await env.api('GET', '/known-host-keys')).body.items as {
      id: string;
      ip: string;
      sha256: string;
      source: string;
    }[]
  ).filter((k) => Object.values(hosts).includes(k.ip));

describe('unix settings through the API', () => {
  it('checks them, naming the field', async () => {
    const base = record('strictUnknown', admin, 'unix/admin');
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { delegation: { method: 'doas' } },
        'settings.delegation.method',
        /must be one of: "sudo", "su", "sudo-su", "command"/,
      ],
      [{ delegation: { method: 'command' } }, 'settings.delegation.command', /is required with method "command"/],
      [
        { delegation: { method: 'command', command: 'pbrun; rm -rf /' } },
        'settings.delegation.command',
        /without shell metacharacters/,
      ],
      [
        { delegation: { method: 'command', command: '$(id)' } },
        'settings.delegation.command',
        /without shell metacharacters/,
      ],
      [
        { delegation: { method: 'sudo', command: 'pbrun' } },
        'settings.delegation.command',
        /only with method "command"/,
      ],
      [{ delegation: { method: 'su', suUser: 'root;id' } }, 'settings.delegation.suUser', /account name/],
      [{ delegation: { sudoMode: 'x' } }, 'settings.delegation.sudoMode', /not a known field/],
      [{ hostKeyPolicy: 'sometimes' }, 'settings.hostKeyPolicy', /must be one of: "tofu", "strict", "off"/],
    ];
    for (const [settings, field, reason] of cases) {
      const res = await env.api('POST', '/auth-records', { ...base, name: `bad ${field}`, settings });
      expect([res.status, res.body.field], JSON.stringify(settings)).toEqual([400, field]);
      expect(res.body.message).toMatch(reason);
    }
    for (const settings of [
      { delegation: { method: 'command', command: 'pbrun' } },
      { delegation: { method: 'command', command: '/usr/bin/dzdo -u root' } },
      { delegation: { method: 'su', suUser: 'toor' } },
      { delegation: { method: 'sudo-su' }, hostKeyPolicy: 'off' },
    ]) {
      const res = await env.api('POST', '/auth-records', {
        ...base,
        name: `good ${JSON.stringify(settings)}`,
        settings,
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body.settings).toEqual(settings);
      expect((await env.api('DELETE', `/auth-records/${res.body.id}`)).status).toBe(204);
    }
    const unix = (await env.api('GET', '/technologies')).body.items.find(
      (t: { technology: string }) => t.technology === 'unix',
    );
    expect(Object.keys(unix.settings.properties)).toEqual(['delegation', 'hostKeyPolicy']);
  });

  it('scans with each policy and method: what each host got, what was pinned, what the report and results say', async () => {
    const created = await Promise.all([
      env.api(
        'POST',
        '/auth-records',
        record('strictUnknown', admin, 'unix/admin', { settings: { hostKeyPolicy: 'strict' } }),
      ),
      env.api(
        'POST',
        '/auth-records',
        record('strictRegistered', admin, 'unix/admin', { settings: { hostKeyPolicy: 'strict' } }),
      ),
      env.api('POST', '/auth-records', record('off', admin, 'unix/admin', { settings: { hostKeyPolicy: 'off' } })),
      env.api('POST', '/auth-records', record('limited', limited, 'unix/limited')),
      env.api(
        'POST',
        '/auth-records',
        record('su', suUser, 'unix/su', {
          settings: { delegation: { method: 'su' } },
          // The root password from an item of its own, read through the same sealed path.
          rootDelegation: { vaultId, locator: { mount: 'secret', path: 'unix/root' }, field: 'password' },
        }),
      ),
      env.api('POST', '/auth-records', record('learnedThenStrict', admin, 'unix/admin')),
    ]);
    for (const res of created) expect(res.status, res.text).toBe(201);
    // Registered in advance: the strict host's real key, and for the off host a key it does not have.
    for (const [ip, sha256] of [
      [hosts.strictRegistered, `SHA256:${sshds.strictRegistered.hostKeySha256}`],
      [hosts.off, `SHA256:${WRONG_KEY}`],
    ]) {
      const pin = await env.api('POST', '/known-host-keys', {
        ip,
        port: sshds[ip === hosts.off ? 'off' : 'strictRegistered'].port,
        sha256,
      });
      expect(pin.status, pin.text).toBe(201);
    }

    const scanId = await scan('127.0.7.11-127.0.7.16');
    const { report, results } = await reportOf(scanId);
    expect(
      Object.fromEntries(
        Object.entries(hosts).map(([name, ip]) => [name, [report[ip]!.status, report[ip]!.errorCode]]),
      ),
    ).toEqual({
      strictUnknown: ['FAILED', 'HOST_KEY_UNKNOWN'],
      strictRegistered: ['PASSED', null],
      off: ['PASSED', null],
      limited: ['INSUFFICIENT_PRIVILEGES', 'DELEGATION_RIGHTS_MISSING'],
      su: ['PASSED', null],
      learnedThenStrict: ['PASSED', null],
    });

    // strict, nothing registered: refused before any authentication, the key it showed named.
    expect(report[hosts.strictUnknown]!.cause).toContain(`SHA256:${sshds.strictUnknown.hostKeySha256}`);
    expect(report[hosts.strictUnknown]!.remedy).toMatch(/register it \(POST \/known-host-keys\)/);
    expect(sshds.strictUnknown.log()).not.toMatch(/password|Accepted|Failed|authenticat/i);
    // off: logged in past a pinned key it does not have, and flagged where an auditor reads.
    // (This lab vault speaks plain HTTP: every host it served is flagged for that too.)
    expect(report[hosts.off]!.flags).toBe('VAULT_PLAIN_HTTP HOST_KEY_UNCHECKED');
    expect(results[hosts.off]!.flags).toEqual(['VAULT_PLAIN_HTTP', 'HOST_KEY_UNCHECKED']);
    expect(results[hosts.off]!.collected!.facts).toMatchObject({
      'hostKey.policy': 'off',
      'hostKey.checked': 'no',
      'hostKey.pinnedMismatch': `SHA256:${WRONG_KEY}`,
    });
    expect(report[hosts.strictRegistered]!.flags).toBe('VAULT_PLAIN_HTTP');
    // sudo without the rights: the report's cause names what was refused and the rule that allows it.
    const rule = `${limited.name} ALL=(root) ${ROOT_COMMANDS}`;
    expect(report[hosts.limited]!.cause).toContain(
      'refused what the collection needs as root: /usr/sbin/sshd -T, /usr/bin/passwd -S -a',
    );
    expect(report[hosts.limited]!.cause).toContain(rule);
    expect(report[hosts.limited]!.remedy).toMatch(/privileges\.sudoersRule/);
    expect(results[hosts.limited]!.collected!.facts).toMatchObject({
      'privileges.sudoersRule': rule,
      'privileges.root': 'no',
    });
    // The hosts that passed list what needed root, as a rule an administrator can paste.
    expect(results[hosts.strictRegistered]!.collected!.facts).toMatchObject({
      'privileges.method': 'sudo',
      'privileges.root': 'yes',
      'privileges.sudoersRule': `${admin.name} ALL=(root) ${ROOT_COMMANDS}`,
      'sshd.passwordAuthentication': expect.any(String),
    });
    // su, with the root password from its own item.
    expect(results[hosts.su]!.collected!.facts).toMatchObject({ 'privileges.method': 'su', 'privileges.root': 'yes' });

    // Pinned: the strict hosts learned nothing, the off host's (wrong) key stayed as registered,
    // the tofu hosts' keys were learned.
    const pinned = Object.fromEntries((await pinnedKeys()).map((k) => [k.ip, [k.sha256, k.source]]));
    expect(pinned).toEqual({
      [hosts.strictRegistered]: [`SHA256:${sshds.strictRegistered.hostKeySha256}`, 'operator'],
      [hosts.off]: [`SHA256:${WRONG_KEY}`, 'operator'],
      [hosts.limited]: [`SHA256:${sshds.limited.hostKeySha256}`, 'learned'],
      [hosts.su]: [`SHA256:${sshds.su.hostKeySha256}`, 'learned'],
      [hosts.learnedThenStrict]: [`SHA256:${sshds.learnedThenStrict.hostKeySha256}`, 'learned'],
    });

    // No secret in what the API serves or in any log of the stack.
    const served = JSON.stringify([report, results, await env.api('GET', `/audit?scan=${scanId}`)]);
    const logs = env.logFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const s of SECRETS) {
      expect(served).not.toContain(s);
      expect(logs).not.toContain(s);
    }
  }, 180_000);

  it('strict does not take a key learned on first use; confirmed by an operator, it does', async () => {
    const records = (await env.api('GET', '/auth-records?limit=100')).body.items as { id: string; targets: string }[];
    const id = records.find((r) => r.targets === hosts.learnedThenStrict)!.id;
    const patched = await env.api('PATCH', `/auth-records/${id}`, { settings: { hostKeyPolicy: 'strict' } });
    expect(patched.status, patched.text).toBe(200);

    let { report } = await reportOf(await scan(hosts.learnedThenStrict));
    expect([report[hosts.learnedThenStrict]!.status, report[hosts.learnedThenStrict]!.errorCode]).toEqual([
      'FAILED',
      'HOST_KEY_UNKNOWN',
    ]);
    expect(report[hosts.learnedThenStrict]!.cause).toMatch(/a key learned on first use is not/);

    const learned = (await pinnedKeys()).find((k) => k.ip === hosts.learnedThenStrict)!;
    const confirmed = await env.api('PATCH', `/known-host-keys/${learned.id}`, { sha256: learned.sha256 });
    expect([confirmed.status, confirmed.body.source]).toEqual([200, 'operator']);
    ({ report } = await reportOf(await scan(hosts.learnedThenStrict)));
    expect(report[hosts.learnedThenStrict]!.status).toBe('PASSED');
  }, 120_000);
});
