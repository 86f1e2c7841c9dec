// `npm start` lives and stops as one stack, whichever of its processes a signal reaches, and
// starts only when its ports are free. Each start of the real stack takes 10–20 s here, so the
// tests share starts: four in all.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../scripts/tools.mjs';
import { startTemporalDevServer } from '../workers/embedded/temporal-dev-server.js';
import { waitForOwnListener } from '../runtime/net.js';
import {
  PG_SHUT_DOWN,
  isRunning,
  killLeftovers,
  launchStack,
  pgliteState,
  portsInUse,
  spareStackPorts,
  stackProcesses,
  stillRunningAfter,
  type LaunchedStack,
  type StackPorts,
} from './harness/embedded-stack.js';

const CLEAN_STOP = 'vaultscan stopped: every part ended and the data is closed.';
const folders: string[] = [];
const started: number[] = [];

afterAll(() => {
  killLeftovers(started);
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function scratchFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-start-'));
  folders.push(dir);
  return dir;
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Starts a stack and returns its processes, each of the three parts found. */
async function startedStack(stack: LaunchedStack) {
  await stack.ready;
  const processes = stackProcesses(stack.root.pid!);
  started.push(...processes.all);
  expect(processes.main, 'the node process running main.ts').toBeDefined();
  expect(processes.temporal, 'the Temporal dev server').toBeDefined();
  expect(processes.appliance, 'the appliance process').toBeDefined();
  return processes;
}

/** Nothing of the stack runs any more and its ports are free, within 20 s. */
async function expectAllGone(pids: number[], ports: StackPorts): Promise<void> {
  const deadline = Date.now() + 20_000;
  expect(await stillRunningAfter(pids, 20_000)).toEqual([]);
  // A process shows as ended once its main thread has; its other threads may hold its sockets a moment longer.
  let inUse = await portsInUse(ports);
  while (inUse.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    inUse = await portsInUse(ports);
  }
  expect(inUse).toEqual([]);
}

describe('npm start', () => {
  it('stops its whole stack, cleanly, on SIGTERM to npm, starts again on the same data, and stops so on SIGHUP to npm', async () => {
    const dir = scratchFolder();
    const dataDir = join(dir, 'data');
    const ports = await spareStackPorts();

    const first = launchStack('npm', dataDir, ports);
    const firstProcesses = await startedStack(first);
    // A schedule made now is still there, as Temporal holds it, after the restart below.
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${ports.api}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim()}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect((await api('POST', '/assets', { name: 'lab', value: '10.77.0.0/30' })).status).toBe(201);
    const created = await api('POST', '/schedules', {
      name: 'weekly',
      scan: { title: 'weekly', targets: '10.77.0.1' },
      cron: ['30 2 * * 1'],
      timeZone: 'Europe/Berlin',
      paused: true,
      note: 'kept across restarts',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    process.kill(first.root.pid!, 'SIGTERM');
    await expectAllGone(firstProcesses.all, ports);
    expect(first.output()).toContain('every held secret purged');
    expect(first.output()).toContain(CLEAN_STOP);
    expect(pgliteState(dataDir)).toBe(PG_SHUT_DOWN);

    // npm dies of SIGHUP without passing it on: main.ts sees its parent gone.
    const second = launchStack('npm', dataDir, ports);
    const secondProcesses = await startedStack(second);
    const kept = await api('GET', `/schedules/${created.body.id}`);
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({
      state: 'paused',
      note: 'kept across restarts',
      timing: { cron: ['30 2 * * 1'], timeZone: 'Europe/Berlin' },
      nextRuns: created.body.nextRuns,
    });
    process.kill(second.root.pid!, 'SIGHUP');
    await expectAllGone(secondProcesses.all, ports);
    expect(second.output()).toContain('every held secret purged');
    expect(second.output()).toContain(CLEAN_STOP);
    expect(pgliteState(dataDir)).toBe(PG_SHUT_DOWN);
  }, 180_000);

  it("stops its whole stack, cleanly, when a hang-up ends tsx's CLI (which passes on no SIGHUP)", async () => {
    const dataDir = join(scratchFolder(), 'data');
    const ports = await spareStackPorts();
    const stack = launchStack('tsx', dataDir, ports);
    const processes = await startedStack(stack);
    process.kill(stack.root.pid!, 'SIGHUP');
    await expectAllGone(processes.all, ports);
    expect(stack.output()).toContain(CLEAN_STOP);
    expect(pgliteState(dataDir)).toBe(PG_SHUT_DOWN);
  });

  it('takes the Temporal dev server and the appliance with it when the node running main.ts is killed outright', async () => {
    const dataDir = join(scratchFolder(), 'data');
    const ports = await spareStackPorts();
    const stack = launchStack('npm', dataDir, ports);
    const processes = await startedStack(stack);
    process.kill(processes.main!, 'SIGKILL');
    await expectAllGone(processes.all, ports);
    // The appliance saw its channel close and stopped as on SIGTERM, purging what it held.
    expect(stack.output()).toContain('every held secret purged');
  });

  it('refuses to start on a port another program holds, in one sentence naming it, before the data folder exists', async () => {
    const dataDir = join(scratchFolder(), 'data');
    const ports = await spareStackPorts();
    const holder = await listenOn(ports.temporalUi);
    try {
      const startedAt = Date.now();
      const stack = launchStack('npm', dataDir, ports);
      expect(await stack.exited).toEqual({ code: 1, signal: null });
      expect(Date.now() - startedAt).toBeLessThan(15_000);
      expect(stack.output()).toContain(
        `vaultscan: port ${ports.temporalUi} on 127.0.0.1, which the Temporal Web UI needs, is taken by another program (pid ${process.pid}: `,
      );
      expect(stack.output()).toContain('stop that program, or set VAULTSCAN_TEMPORAL_UI_PORT to a free port.');
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      holder.close();
    }
  });
});

describe('the Temporal dev server', () => {
  it('does not start on a port another program holds', async () => {
    const ports = await spareStackPorts();
    const holder = await listenOn(ports.temporal);
    try {
      await expect(startTemporalDevServer({ port: ports.temporal, ui: false })).rejects.toThrow(
        `cannot have 127.0.0.1:${ports.temporal} for its frontend: another program holds it (pid ${process.pid}: `,
      );
    } finally {
      holder.close();
    }
  });

  it('dies with the process that started it, even one killed outright', async () => {
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(projectRoot, 'test/harness/fixtures/hold-dev-server.ts'),
        join(scratchFolder(), 'temporal.log'),
      ],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let server: number | undefined;
    try {
      server = await new Promise<number>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => {
          const pid = /dev server pid (\d+)/.exec(d.toString())?.[1];
          if (pid) resolve(Number(pid));
        });
        holder.once('exit', (code) => reject(new Error(`the holder exited early (${code})`)));
      });
      expect(isRunning(server)).toBe(true);
      holder.kill('SIGKILL');
      // The kernel sends it SIGTERM (PR_SET_PDEATHSIG): it stops as it would when asked.
      expect(await stillRunningAfter([server], 10_000)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
      if (server) killLeftovers([server]);
    }
  });

  it('is ready only once the process started for it listens, never because another program does', async () => {
    const { temporal: port } = await spareStackPorts();
    const holder = await listenOn(port);
    const bystander = spawn('sleep', ['30']);
    let own: ChildProcess | undefined;
    try {
      await expect(
        waitForOwnListener({ pid: bystander.pid!, host: '127.0.0.1', port, timeoutMs: 1_000, isAlive: () => true }),
      ).rejects.toThrow(`is held by another program (pid ${process.pid}: `);
      // Once the port is free, a process that listens on it itself is ready.
      await new Promise((resolve) => holder.close(resolve));
      own = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1')`]);
      await waitForOwnListener({ pid: own.pid!, host: '127.0.0.1', port, timeoutMs: 10_000, isAlive: () => true });
      expect(isRunning(own.pid!)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
      own?.kill('SIGKILL');
    }
  });
});
