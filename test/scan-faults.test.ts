// Surviving faults (issue 9): each scenario runs a scan over real sshd targets with passwords
// from a real vault (OpenBao), injects one fault mid-scan, and checks that the scan ends with an
// accurate status, that every host has exactly one result (none lost, none duplicated), that
// every attempt is recorded (and the targets saw no login the attempts do not account for), and
// that no secret is left on any appliance. The stack is the production shape: a private
// PostgreSQL cluster, a file-backed Temporal dev server, the control-plane worker and two
// appliance workers as processes of their own. RELIABILITY.md has the table of outcomes and the
// figures measured here.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import protos from '@temporalio/proto';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { startPrivatePostgres, type PrivatePostgres } from './harness/private-postgres.js';
import { startHttpRecorder, type HttpRecorder } from './harness/http-recorder.js';
import type { ApplianceProcess } from './harness/appliance-process.js';
import { batchRuns, type BatchRun } from './harness/batch-runs.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';
import { freePort } from '../runtime/net.js';

const suffix = randomBytes(3).toString('hex');
const fastUser = `vstest-ff-${suffix}`;
const slowUser = `vstest-fs-${suffix}`;
const fastPassword = `fault-fast-${randomBytes(9).toString('hex')}`;
const slowPassword = `fault-slow-${randomBytes(9).toString('hex')}`;
const VAULT_POLICY = 'path "secret/data/faults/*" { capabilities = ["read"] }';

let pg: PrivatePostgres;
let bao: OpenBaoServer;
let env: ScanEnvironment;
let recorder: HttpRecorder;
let vaultToken: string;
let vaultId: string;
let applianceId: string;
let sshPort: number;
const sshds = new Map<string, SshdServer>();
/** Every appliance process started here, live or not. */
const appliances: ApplianceProcess[] = [];
/** Figures for RELIABILITY.md, written to .test-runs/scan-faults-figures.json at the end. */
const figures: Record<string, any> = { scans: {}, applianceStartMs: [], scheduleToStartMs: {} };

const { PendingActivityState, TimeoutType } = protos.temporal.api.enums.v1;
const ip = (n: number) => `127.0.9.${n}`;
const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch {
      /* not there yet (or a server is down on purpose) */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const batchOf = (scanId: string, host: string) => `scan-${scanId}/unix/${host}`;

/**
 * When the server received each heartbeat of the batch's running activity of that type (its
 * pending activity's lastHeartbeatTime, sampled), until the activity is no longer running.
 */
async function heartbeatsReceived(workflowId: string, activity: string): Promise<number[]> {
  const seen = new Set<number>();
  for (let gone = 0; gone < 5;) {
    const running = await runningActivity(workflowId, activity).catch(() => undefined);
    if (running?.lastHeartbeatTime) seen.add(eventMs(running.lastHeartbeatTime));
    gone = running ? 0 : gone + 1;
    await new Promise((r) => setTimeout(r, 50));
  }
  return [...seen].sort();
}

/** The batch's activity of that type now running on a worker (its pending activity, started). */
async function runningActivity(workflowId: string, activity: string) {
  const description = await env.client.workflow.getHandle(workflowId).describe();
  return description.raw.pendingActivities?.find(
    (a) => a.activityType?.name === activity && a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
  );
}

interface ActivityRun {
  scheduledAt: number;
  queue: string;
  startedAt?: number;
  closedAt?: number;
  outcome?: 'completed' | 'failed' | 'timedOut' | 'canceled';
  timeoutType?: string;
}

/** Each run of an activity of that type in the workflow's history: when scheduled, on which queue, how it closed. */
async function activityRuns(workflowId: string, activity: string): Promise<ActivityRun[]> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const runs = new Map<string, ActivityRun>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === activity)
      runs.set(String(e.eventId), { scheduledAt: eventMs(e.eventTime), queue: scheduled.taskQueue?.name ?? '' });
    const started = e.activityTaskStartedEventAttributes;
    if (started && runs.has(String(started.scheduledEventId)))
      runs.get(String(started.scheduledEventId))!.startedAt = eventMs(e.eventTime);
    const closes = [
      ['completed', e.activityTaskCompletedEventAttributes],
      ['failed', e.activityTaskFailedEventAttributes],
      ['timedOut', e.activityTaskTimedOutEventAttributes],
      ['canceled', e.activityTaskCanceledEventAttributes],
    ] as const;
    for (const [outcome, attrs] of closes) {
      const run = attrs && runs.get(String(attrs.scheduledEventId));
      if (!run) continue;
      run.closedAt = eventMs(e.eventTime);
      run.outcome = outcome;
      if (outcome === 'timedOut')
        run.timeoutType =
          TimeoutType[e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ?? 0];
    }
  }
  return [...runs.values()];
}

async function scanStatus(scanId: string) {
  const res = await env.api('GET', `/scans/${scanId}`);
  if (res.status !== 200) throw new Error(`GET /scans/${scanId}: ${res.status}`);
  return res.body;
}

async function waitForScan(scanId: string, timeoutMs = 120_000) {
  return until(
    `scan ${scanId} to end`,
    async () => {
      const scan = await scanStatus(scanId);
      return ['FINISHED', 'CANCELED', 'FAILED'].includes(scan.status) && scan;
    },
    timeoutMs,
  );
}

interface ProfileShape {
  maxParallelHosts: number;
  timeouts?: Record<string, number>;
  retry?: { maxAttempts: number; initialIntervalMs: number; maxIntervalMs: number };
}

/** Hosts, one record (and one vault item) each, a profile and a scan over them; returns the scan's id. */
async function launchScan(
  title: string,
  hosts: { ip: string; slow?: boolean; item?: string }[],
  profile: ProfileShape,
  vault = vaultId,
  placement: { applianceId: string } | { applianceIds: string[] } = { applianceId },
) {
  const targets = hosts.map((h) => h.ip).join(', ');
  for (const host of hosts) {
    const created = await env.api('POST', '/assets', { name: `${title} ${host.ip}`, value: host.ip });
    expect(created.status, created.text).toBe(201);
    const record = await env.api('POST', '/auth-records', {
      name: `${title} ${host.ip}`,
      technology: 'unix',
      targets: host.ip,
      username: host.slow ? slowUser : fastUser,
      port: sshPort,
      vaultId: vault,
      locator: { path: `faults/${host.item ?? (host.slow ? 'slow' : 'fast')}` },
      fields: { password: 'password' },
    });
    expect(record.status, record.text).toBe(201);
  }
  const created = await env.api('POST', '/option-profiles', {
    name: title,
    technologies: ['unix'],
    maxParallelHosts: profile.maxParallelHosts,
    timeouts: { connectMs: 5_000, commandMs: 15_000, vaultMs: 5_000, ...profile.timeouts },
    retry: profile.retry ?? { maxAttempts: 3, initialIntervalMs: 1_000, maxIntervalMs: 2_000 },
  });
  expect(created.status, created.text).toBe(201);
  const launched = await env.api('POST', '/scans', {
    title,
    targets,
    optionProfileId: created.body.id,
    ...placement,
  });
  expect(launched.status, launched.text).toBe(202);
  return launched.body.id as string;
}

/** Short timeouts: a lost worker is noticed in seconds, so a scenario stays short. */
const quickProfile: ProfileShape = {
  maxParallelHosts: 2,
  timeouts: { applianceLostMs: 5_000, heartbeatMs: 3_000 },
};

const acceptedLogins = (host: string) =>
  sshds
    .get(host)!
    .log()
    .match(/Accepted (password|keyboard-interactive\/pam) for/g)?.length ?? 0;

interface Expectation {
  /** Each host's final category. */
  categories: Record<string, string>;
  /** Codes a host's earlier (not final) attempts may carry: what the fault explains. */
  retriedFor?: string[];
}

/**
 * The checks every scenario shares: the scan's end and its counts, one result per host and one
 * batch per host, every attempt recorded and numbered, the targets' own logs accounting for no
 * login beyond the attempts, and nothing held by any appliance process (which are then
 * replaced by fresh ones for the next scenario). Returns each host's attempts.
 */
/** The most hosts that batches of these runs held at once. */
function mostAtOnce(runs: BatchRun[]): number {
  const changes = runs.flatMap((r) => [
    { at: r.startedAt, hosts: r.ips.length },
    { at: r.closedAt, hosts: -r.ips.length },
  ]);
  // At one instant, a batch that ends frees its hosts before one that starts takes them.
  changes.sort((a, b) => a.at - b.at || a.hosts - b.hosts);
  let now = 0;
  let most = 0;
  for (const change of changes) most = Math.max(most, (now += change.hosts));
  return most;
}

async function expectSurvived(scanId: string, expected: Expectation, loginsBefore: Map<string, number>) {
  const hosts = Object.keys(expected.categories).sort();
  const scan = await waitForScan(scanId);
  figures.scans[scan.title] = { durationMs: Date.parse(scan.finishedAt) - Date.parse(scan.startedAt) };
  // The status is accurate: FINISHED, its counts are the results', and the workflow says the same.
  expect(scan.status).toBe('FINISHED');
  const summary = await env.client.workflow.getHandle(`scan-${scanId}`).result();
  const tally: Record<string, number> = { ...summary.counts };
  for (const key of Object.keys(tally)) if (tally[key] === 0) delete tally[key];
  const wanted: Record<string, number> = {};
  for (const category of Object.values(expected.categories)) wanted[category] = (wanted[category] ?? 0) + 1;
  expect(tally).toEqual(wanted);
  expect(scan.progress).toMatchObject({ doneHosts: hosts.length, totalHosts: hosts.length });
  expect(Object.fromEntries(Object.entries(scan.progress.counts).filter(([, n]) => n !== 0))).toEqual(wanted);

  // Exactly one result per host: none lost, none duplicated, in the database as in the API.
  const rows = await env.database.query(
    `select ip, category, count(*)::int as n from host_results where scan_id = '${scanId}' group by ip, category order by ip`,
  );
  expect(rows).toEqual(hosts.map((h) => ({ ip: h, category: expected.categories[h], n: 1 })));
  // …and each host was handed to one batch workflow (one a pool's batch handed back runs again
  // under the same id), never to two batches at once.
  const runs = await batchRuns(env.client, scanId);
  const runsOf = new Map<string, BatchRun[]>();
  for (const run of runs) for (const target of run.ips) runsOf.set(target, [...(runsOf.get(target) ?? []), run]);
  expect([...runsOf.keys()].sort()).toEqual(hosts);
  for (const [host, hostRuns] of runsOf) {
    expect(new Set(hostRuns.map((r) => r.workflowId)).size, host).toBe(1);
    hostRuns.slice(1).forEach((run, i) => expect(run.startedAt, host).toBeGreaterThanOrEqual(hostRuns[i]!.closedAt));
  }

  // Every attempt recorded: numbered 1..n, the last one the host's answer, the earlier ones
  // failures the fault explains; and no target saw a login that no attempt accounts for.
  const results = (await env.api('GET', `/scans/${scanId}/results`)).body.items as {
    ip: string;
    errorCode: string | null;
    attempts: { attemptNo: number; code: string | null; httpStatus: number | null }[];
  }[];
  expect(results.map((r) => r.ip)).toEqual(hosts);
  const attemptsOf: Record<string, (string | null)[]> = {};
  for (const result of results) {
    const codes = result.attempts.map((a) => a.code);
    attemptsOf[result.ip] = codes;
    expect(result.attempts.map((a) => a.attemptNo)).toEqual(codes.map((_, i) => i + 1));
    expect(codes.at(-1)).toBe(result.errorCode);
    for (const code of codes.slice(0, -1)) expect(expected.retriedFor ?? []).toContain(code);
    const logins = acceptedLogins(result.ip) - (loginsBefore.get(result.ip) ?? 0);
    const loggedIn = codes.filter((c) => c === null || c === 'PRIVILEGE_ESCALATION_FAILED').length;
    expect(logins, `${result.ip}: logins the target saw vs. attempts ${JSON.stringify(codes)}`).toBeGreaterThanOrEqual(
      loggedIn,
    );
    expect(logins, `${result.ip}: logins the target saw vs. attempts ${JSON.stringify(codes)}`).toBeLessThanOrEqual(
      codes.length,
    );
  }
  figures.scans[scan.title].attempts = attemptsOf;
  let lastBatchClosed = 0;
  for (const host of hosts) {
    const closed = (await env.client.workflow.getHandle(batchOf(scanId, host)).describe()).closeTime!.getTime();
    lastBatchClosed = Math.max(lastBatchClosed, closed);
  }
  // What the scan's end waited for after its last batch: the forgetScan of every process that held its secrets.
  figures.scans[scan.title].endAfterLastBatchMs = Date.parse(scan.finishedAt) - lastBatchClosed;
  // How long work waited on a queue before a worker took it: what applianceLostMs and
  // applianceUnavailableMs must leave room for (RELIABILITY.md).
  for (const host of hosts)
    for (const activity of ['fetchCredentials', 'loginAndCollect']) {
      const waits = (await activityRuns(batchOf(scanId, host), activity))
        .filter((r) => r.startedAt !== undefined)
        .map((r) => r.startedAt! - r.scheduledAt);
      (figures.scheduleToStartMs[activity] ??= []).push(...waits);
    }
  await expectNothingHeld();
  return attemptsOf;
}

/** Appliance processes already accounted for, and those a scenario killed on purpose. */
const accountedFor = new Set<ApplianceProcess>();
const killedOnPurpose = new Set<ApplianceProcess>();

/**
 * No secret left on any appliance: each appliance process still running is stopped and says
 * how many secrets it still held when its workers stopped (heldAtStop, before the shutdown
 * purge); a process killed on purpose is dead, its memory with it; none may have died on its
 * own. Two fresh processes take over.
 */
async function expectNothingHeld() {
  for (const appliance of appliances) {
    if (accountedFor.has(appliance)) continue;
    accountedFor.add(appliance);
    if (killedOnPurpose.has(appliance)) {
      expect(appliance.exitSignal()).toBe('SIGKILL');
      continue;
    }
    expect(
      appliance.process.exitCode ?? appliance.process.signalCode,
      `${appliance.logFile}: ended by itself`,
    ).toBeNull();
    await appliance.kill('SIGTERM');
    expect(await appliance.exited).toBe(0);
    const stopped = readFileSync(appliance.logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('appliance worker stopped'));
    expect(stopped, `${appliance.logFile} says how it stopped`).toBeDefined();
    expect(JSON.parse(stopped!).heldAtStop, `${appliance.ownQueue} held secrets after the scan`).toBe(0);
  }
  const fresh = await Promise.all([env.startAppliance(applianceId), env.startAppliance(applianceId)]);
  for (const appliance of fresh) figures.applianceStartMs.push(appliance.readyAt! - appliance.spawnedAt);
  appliances.push(...fresh);
}

const liveAppliances = () => appliances.filter((a) => a.process.exitCode === null && a.process.signalCode === null);
const loginCounts = () => new Map([...sshds.keys()].map((h) => [h, acceptedLogins(h)]));

beforeAll(async () => {
  await cleanupAll();
  const started = Date.now();
  [pg, bao] = await Promise.all([startPrivatePostgres(), startOpenBao()]);
  env = await startScanEnvironment({ databaseUrl: pg.url, temporalDbFile: true, controlPlane: 'process' });
  recorder = await startHttpRecorder(bao.url);

  await createTestUser({ name: fastUser, password: fastPassword, sudo: 'password' });
  await createTestUser({ name: slowUser, password: slowPassword, sudo: 'password' });
  // Every command of the slow account's sessions takes a second more: a window in which the
  // appliance holds its secret and is logged in, for a fault to land in.
  execFileSync('bash', [
    '-c',
    `printf 'sleep 1\\n' > /home/${slowUser}/.bashrc && chown ${slowUser} /home/${slowUser}/.bashrc`,
  ]);
  sshPort = await freePort(ip(1));
  for (let n = 1; n <= 23; n++) sshds.set(ip(n), await startSshd({ address: ip(n), port: sshPort, logLevel: 'INFO' }));

  await bao.writeKv2('secret', 'faults/fast', { password: fastPassword });
  await bao.writeKv2('secret', 'faults/slow', { password: slowPassword });
  for (const item of ['c7', 'c8', 'c9', 'd10', 'd11', 'd12', 'd13'])
    await bao.writeKv2('secret', `faults/${item}`, {
      password: item === 'c7' || item === 'c8' ? slowPassword : fastPassword,
    });
  vaultToken = await bao.createToken(['faults-read'], VAULT_POLICY);
  const vault = await env.api('POST', '/vaults', {
    name: 'openbao',
    type: 'hashicorp',
    config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
    access: { token: vaultToken },
  });
  expect(vault.status, vault.text).toBe(201);
  vaultId = vault.body.id;

  applianceId = (await env.api('POST', '/appliances', { name: 'faults' })).body.id;
  // Its first start enrols the appliance; the second reads the key the first wrote.
  appliances.push(await env.startAppliance(applianceId));
  appliances.push(await env.startAppliance(applianceId));
  figures.setupMs = Date.now() - started;
}, 240_000);

afterAll(async () => {
  mkdirSync('.test-runs', { recursive: true });
  writeFileSync(join('.test-runs', 'scan-faults-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  await env?.stop();
  await recorder?.close();
  await Promise.all([...sshds.values()].map((s) => s.stop()));
  await bao?.stop();
  await pg?.destroy();
  await cleanupAll();
});

describe('the Temporal dev server killed (SIGKILL) mid-scan and started again on its file', () => {
  it('the scan resumes where it was and ends with every host scanned once', async () => {
    const before = loginCounts();
    const hosts = [{ ip: ip(1), slow: true }, { ip: ip(2) }, { ip: ip(3) }];
    const scanId = await launchScan('temporal restart', hosts, quickProfile);
    const runBefore = await until(
      'the scan workflow',
      async () => (await env.client.workflow.getHandle(`scan-${scanId}`).describe()).runId,
    );
    await until('a login in progress', () => runningActivity(batchOf(scanId, ip(1)), 'loginAndCollect'));
    const killedAt = Date.now();
    // Down for longer than the heartbeat timeout: the server's timers fire on its return.
    await env.restartTemporal('SIGKILL', 5_000);
    figures.temporalDownMs = Date.now() - killedAt;

    const attempts = await expectSurvived(
      scanId,
      { categories: { [ip(1)]: 'PASSED', [ip(2)]: 'PASSED', [ip(3)]: 'PASSED' }, retriedFor: ['APPLIANCE_LOST'] },
      before,
    );
    figures.temporalRestartAttempts = attempts;
    // The same run went on: the server kept it in its file. The login that was running when
    // the server died was answered for only after it came back.
    expect((await env.client.workflow.getHandle(`scan-${scanId}`).describe()).runId).toBe(runBefore);
    const [interrupted] = await activityRuns(batchOf(scanId, ip(1)), 'loginAndCollect');
    expect(interrupted!.scheduledAt).toBeLessThan(killedAt);
    expect(interrupted!.closedAt).toBeGreaterThan(killedAt + 5_000);
    figures.temporalInterruptedLogin = interrupted;
  });
});

describe('PostgreSQL restarted while batches publish', () => {
  it('publishing waits for the database, then writes each host once', async () => {
    const before = loginCounts();
    const hosts = [{ ip: ip(4), slow: true }, { ip: ip(5), slow: true }, { ip: ip(6) }];
    const scanId = await launchScan('postgres restart', hosts, quickProfile);
    await until('a login in progress', () => runningActivity(batchOf(scanId, ip(4)), 'loginAndCollect'));
    await pg.stop('fast');
    const downAt = Date.now();
    // The login ends while the database is away: its batch publishes into a database that is gone.
    const login = await until('the login to end', async () =>
      (await activityRuns(batchOf(scanId, ip(4)), 'loginAndCollect')).find((r) => r.closedAt),
    );
    // Long enough for the publish to be tried and fail twice (its retry waits 1 s, then 2 s):
    // the third try finds the database back.
    await new Promise((r) => setTimeout(r, 2_500));
    await pg.start();
    const upAt = Date.now();
    figures.postgresDownMs = upAt - downAt;

    await expectSurvived(
      scanId,
      { categories: { [ip(4)]: 'PASSED', [ip(5)]: 'PASSED', [ip(6)]: 'PASSED' }, retriedFor: [] },
      before,
    );
    // The fault landed in publishing: the batch had its answer while the database was down,
    // and its result was written only after it came back.
    expect(login.outcome).toBe('completed');
    expect(login.closedAt).toBeGreaterThan(downAt);
    expect(login.closedAt).toBeLessThan(upAt);
    const batch = await env.client.workflow.getHandle(batchOf(scanId, ip(4))).describe();
    expect(batch.closeTime!.getTime()).toBeGreaterThan(upAt);
  });
});

describe('the vault down mid-scan, then back', () => {
  it('a host whose read failed is tried again after the backoff and scanned once the vault answers', async () => {
    const before = loginCounts();
    // One login at a time, and a batch handed out only when one ends: the third host's read
    // comes after the first two hosts' (slow) logins, by which time the vault is down.
    const hosts = [
      { ip: ip(7), slow: true, item: 'c7' },
      { ip: ip(8), slow: true, item: 'c8' },
      { ip: ip(9), item: 'c9' },
    ];
    const scanId = await launchScan('vault down', hosts, {
      maxParallelHosts: 1,
      timeouts: quickProfile.timeouts!,
      retry: { maxAttempts: 4, initialIntervalMs: 1_500, maxIntervalMs: 3_000 },
    });
    await until('the first two hosts to have their secrets', async () => {
      for (const host of [ip(7), ip(8)])
        if (!(await activityRuns(batchOf(scanId, host), 'fetchCredentials')).some((r) => r.outcome === 'completed'))
          return false;
      return true;
    });
    await bao.down('SIGKILL');
    const downAt = Date.now();
    await until('the third host to have tried the vault', async () =>
      (await activityRuns(batchOf(scanId, ip(9)), 'fetchCredentials')).some((r) => r.outcome === 'completed'),
    );
    await bao.up();
    figures.vaultDownMs = Date.now() - downAt;

    const attempts = await expectSurvived(
      scanId,
      {
        categories: { [ip(7)]: 'PASSED', [ip(8)]: 'PASSED', [ip(9)]: 'PASSED' },
        retriedFor: ['VAULT_UNREACHABLE'],
      },
      before,
    );
    figures.vaultDownAttempts = attempts;
    expect(attempts[ip(7)]).toEqual([null]);
    expect(attempts[ip(8)]).toEqual([null]);
    expect(attempts[ip(9)]![0]).toBe('VAULT_UNREACHABLE');
    // Each read is in the audit trail as it went: the failed ones with their code, then one success.
    const trail = (await env.api('GET', `/audit?scan=${scanId}&limit=100`)).body.items as Record<string, any>[];
    const reads = trail
      .filter((e) => e.action === 'vault.read' && e.detail.locator.path === 'faults/c9')
      .map((e) => [e.outcome, e.detail.code])
      .reverse();
    expect(reads).toEqual([
      ...attempts[ip(9)]!.slice(0, -1).map(() => ['failed', 'VAULT_UNREACHABLE']),
      ['success', null],
    ]);
  });
});

describe('the vault throttling reads: 429 with Retry-After, from an OpenBao rate-limit quota', () => {
  it('each read waits what the vault asked, never less than the backoff, and every host is scanned', async () => {
    const before = loginCounts();
    // The same OpenBao, reached through a recorder that notes each answer's status and Retry-After.
    const watched = await env.api('POST', '/vaults', {
      name: 'openbao (recorded)',
      type: 'hashicorp',
      config: { url: recorder.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: vaultToken },
    });
    expect(watched.status, watched.text).toBe(201);
    const items = ['d10', 'd11', 'd12', 'd13'];
    const hosts = items.map((item) => ({ ip: ip(Number(item.slice(1))), item }));
    // One read per 2 s: four reads at once are three too many.
    await bao.setRateLimit('faults', { rate: 1, interval: '2s', path: 'secret/' });
    let attempts: Record<string, (string | null)[]>;
    let scanId: string;
    try {
      scanId = await launchScan(
        'vault throttled',
        hosts,
        {
          maxParallelHosts: 4,
          timeouts: { ...quickProfile.timeouts!, vaultMs: 10_000 },
          retry: { maxAttempts: 4, initialIntervalMs: 500, maxIntervalMs: 2_000 },
        },
        watched.body.id,
      );
      attempts = await expectSurvived(
        scanId,
        { categories: Object.fromEntries(hosts.map((h) => [h.ip, 'PASSED'])), retriedFor: ['VAULT_RATE_LIMITED'] },
        before,
      );
    } finally {
      await bao.removeRateLimit('faults');
    }
    figures.throttledAttempts = attempts;
    const reads = recorder.exchanges.filter((e) => /^\/v1\/secret\/data\/faults\/d1\d$/.test(e.path));
    const throttled = reads.filter((e) => e.status === 429);
    figures.throttledReads = reads.map((e) => ({ path: e.path, status: e.status, retryAfter: e.retryAfter }));
    expect(throttled.length).toBeGreaterThan(0);
    for (const answer of throttled) {
      expect(answer.retryAfter).toMatch(/^\d+$/);
      const next = reads.find((r) => r.path === answer.path && r.sentAt > answer.sentAt);
      expect(next, `a read of ${answer.path} after its 429`).toBeDefined();
      const waited = next!.sentAt - answer.answeredAt;
      // What the vault asked, and never less than the adapter's own backoff (500 ms): OpenBao
      // says Retry-After: 0 in a window's last second.
      expect(waited).toBeGreaterThanOrEqual(Math.max(Number(answer.retryAfter) * 1000, 500) - 5);
    }
    // Each item was read once, then served from the appliance's cache.
    for (const item of items)
      expect(reads.filter((r) => r.path === `/v1/secret/data/faults/${item}` && r.status === 200)).toHaveLength(1);
    // A read that ran out of tries is an attempt of its own, with the vault's status.
    const results = (await env.api('GET', `/scans/${scanId}/results`)).body.items as {
      attempts: { code: string | null; httpStatus: number | null }[];
    }[];
    for (const attempt of results.flatMap((r) => r.attempts))
      if (attempt.code === 'VAULT_RATE_LIMITED') expect(attempt.httpStatus).toBe(429);
  });
});

describe('the control-plane worker killed (SIGKILL) mid-scan', () => {
  it('the next one takes the scan up from its history; each host scanned once', async () => {
    const before = loginCounts();
    const hosts = [{ ip: ip(14), slow: true }, { ip: ip(15) }, { ip: ip(16) }];
    const scanId = await launchScan('control plane killed', hosts, quickProfile);
    await until('a login in progress', () => runningActivity(batchOf(scanId, ip(14)), 'loginAndCollect'));
    const beats = heartbeatsReceived(batchOf(scanId, ip(14)), 'loginAndCollect');
    const killed = env.controlPlane!;
    await killed.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await new Promise((r) => setTimeout(r, 1_000));
    const next = await env.startControlPlane();
    figures.controlPlaneStartMs = (await next.ready) - next.spawnedAt;
    figures.controlPlaneDownMs = (await next.ready) - killedAt;

    // No host is tried again: the appliance's work went on while no control plane ran.
    const attempts = await expectSurvived(
      scanId,
      { categories: { [ip(14)]: 'PASSED', [ip(15)]: 'PASSED', [ip(16)]: 'PASSED' }, retriedFor: [] },
      before,
    );
    expect(attempts[ip(14)]).toEqual([null]);
    expect(await activityRuns(batchOf(scanId, ip(14)), 'loginAndCollect')).toHaveLength(1);
    // The scan's workflows went on in the new process, from their histories.
    const workflowIds = [`scan-${scanId}`, ...hosts.map((h) => batchOf(scanId, h.ip))];
    let resumedAt = Infinity;
    for (const id of workflowIds) {
      const events = (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const taken = events.find(
        (e) => e.workflowTaskStartedEventAttributes && eventMs(e.eventTime) > killedAt,
      )?.workflowTaskStartedEventAttributes;
      if (!taken) continue;
      expect(taken.identity).toMatch(new RegExp(`^${next.process.pid}@`));
      resumedAt = Math.min(
        resumedAt,
        ...events
          .filter((e) => e.workflowTaskCompletedEventAttributes && eventMs(e.eventTime) > killedAt)
          .map((e) => eventMs(e.eventTime)),
      );
    }
    figures.controlPlaneResumedAfterMs = resumedAt - killedAt;
    // The appliance beat on while no control plane ran. (The SDK sends beats at most every 80%
    // of the heartbeat timeout: figures.heartbeatGapsMs, for RELIABILITY.md.)
    const received = await beats;
    expect(received.length).toBeGreaterThanOrEqual(2);
    figures.heartbeatGapsMs = received.slice(1).map((at, i) => at - received[i]!);
  });
});

describe('an appliance worker killed (SIGKILL) while it holds a batch, with the default timeouts', () => {
  it('the batch is noticed lost within the heartbeat timeout and scanned again on the other worker', async () => {
    const before = loginCounts();
    const hosts = [{ ip: ip(17), slow: true }, { ip: ip(18) }, { ip: ip(19) }];
    // No applianceLostMs or heartbeatMs: what a lost process costs with the defaults.
    const scanId = await launchScan('appliance killed', hosts, { maxParallelHosts: 2 });
    const batch = batchOf(scanId, ip(17));
    await until('a login in progress', () => runningActivity(batch, 'loginAndCollect'));
    const [holding] = await activityRuns(batch, 'loginAndCollect');
    const holder = liveAppliances().find((a) => a.ownQueue === holding!.queue);
    expect(holder, `the process polling ${holding!.queue}`).toBeDefined();
    killedOnPurpose.add(holder!);
    await holder!.kill('SIGKILL');
    const killedAt = Date.now();

    const attempts = await expectSurvived(
      scanId,
      { categories: { [ip(17)]: 'PASSED', [ip(18)]: 'PASSED', [ip(19)]: 'PASSED' }, retriedFor: ['APPLIANCE_LOST'] },
      before,
    );
    expect(attempts[ip(17)]).toEqual(['APPLIANCE_LOST', null]);
    const [lost, redone] = await activityRuns(batch, 'loginAndCollect');
    const fetches = await activityRuns(batch, 'fetchCredentials');
    expect(lost).toMatchObject({ outcome: 'timedOut', timeoutType: 'TIMEOUT_TYPE_HEARTBEAT' });
    expect(redone).toMatchObject({ outcome: 'completed' });
    expect(redone!.queue).not.toBe(holding!.queue);
    const closedAt = (await env.client.workflow.getHandle(batch).describe()).closeTime!.getTime();
    const loss = {
      detectedAfterMs: lost!.closedAt! - killedAt,
      backoffMs: fetches[1]!.scheduledAt - lost!.closedAt!,
      secondAttemptMs: closedAt - fetches[1]!.scheduledAt,
      resultAfterKillMs: closedAt - killedAt,
      firstAttemptRanMs: killedAt - fetches[0]!.scheduledAt,
    };
    figures.applianceLoss = loss;
    // Seconds, not minutes: noticed within the 15 s heartbeat timeout of the last beat (beats
    // go every 5 s), plus the server's own lag in firing the timer (about a second here).
    expect(loss.detectedAfterMs).toBeGreaterThan(0);
    expect(loss.detectedAfterMs).toBeLessThanOrEqual(15_000 + 2_000);
  });
});

describe('an appliance of a pool killed (SIGKILL) mid-scan: two appliances, each its own process', () => {
  it('the batches it held move to the other appliance, and the scan finishes there', async () => {
    const poolA = (await env.api('POST', '/appliances', { name: 'pool-a' })).body.id as string;
    const poolB = (await env.api('POST', '/appliances', { name: 'pool-b' })).body.id as string;
    const processA = await env.startAppliance(poolA);
    const processB = await env.startAppliance(poolB);
    appliances.push(processA, processB);
    const before = loginCounts();
    const hosts = [{ ip: ip(20), slow: true }, { ip: ip(21), slow: true }, { ip: ip(22) }, { ip: ip(23), slow: true }];
    // One login at a time per appliance: A takes 20 and 22, B 21 and 23 (the fewest hosts running
    // first). B's two are slow: when A's hosts come back to the scan, B has no room for them yet.
    const scanId = await launchScan(
      'pool appliance killed',
      hosts,
      { maxParallelHosts: 1, timeouts: { applianceLostMs: 5_000, heartbeatMs: 3_000, applianceUnavailableMs: 5_000 } },
      vaultId,
      { applianceIds: [poolA, poolB] },
    );
    const batch = batchOf(scanId, ip(20));
    await until('a login in progress on appliance A', () => runningActivity(batch, 'loginAndCollect'));
    const [holding] = await activityRuns(batch, 'loginAndCollect');
    expect(holding!.queue).toBe(processA.ownQueue);
    killedOnPurpose.add(processA);
    await processA.kill('SIGKILL');
    const killedAt = Date.now();

    const attempts = await expectSurvived(
      scanId,
      {
        categories: Object.fromEntries(hosts.map((h) => [h.ip, 'PASSED'])),
        retriedFor: ['APPLIANCE_LOST', 'APPLIANCE_UNAVAILABLE'],
      },
      before,
    );
    // Lost, then found with no worker left: the batch handed the host back, and it passed on B.
    expect(attempts[ip(20)]).toEqual(['APPLIANCE_LOST', 'APPLIANCE_UNAVAILABLE', null]);
    // Every host's last batch ran on B, and B's hosts never waited for A.
    for (const host of hosts) {
      const described = await env.client.workflow.getHandle(batchOf(scanId, host.ip)).describe();
      expect(described.searchAttributes.VaultscanApplianceId, host.ip).toEqual([poolB]);
    }
    const runs = await batchRuns(env.client, scanId);
    expect(runs.filter((r) => r.ips.includes(ip(20))).map((r) => r.applianceId)).toEqual([poolA, poolB]);
    // B never held more hosts than its window (one login, plus one batch fetched ahead): the
    // hosts A's batches gave back waited in the scan until B had room.
    expect(mostAtOnce(runs.filter((r) => r.applianceId === poolB))).toBe(2);
    expect(attempts[ip(21)]).toEqual([null]);
    expect(attempts[ip(23)]).toEqual([null]);
    // Each vault read is audited under the appliance that made it: A's before the kill, B's after.
    const readers = await env.database.query(
      `select distinct appliance_id from audit_events where scan_id = '${scanId}' and action = 'vault.read'`,
    );
    expect(readers.map((r) => r.appliance_id).sort()).toEqual([poolA, poolB].sort());
    const closedAt = (await env.client.workflow.getHandle(batch).describe()).closeTime!.getTime();
    figures.poolFailover = { resultAfterKillMs: closedAt - killedAt };
  });
});

describe('after every fault', () => {
  it('no target password and no vault token is in any log', () => {
    const files = [...env.logFiles, `${env.workDir}/temporal.log`];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const needle of [fastPassword, slowPassword, vaultToken]) expect(text.includes(needle), file).toBe(false);
    }
    for (const needle of [fastPassword, slowPassword, vaultToken]) expect(pg.log().includes(needle)).toBe(false);
  });
});
