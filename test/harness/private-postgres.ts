// A PostgreSQL cluster of the test's own (initdb into a temp folder, one spare loopback port),
// so a test may stop and restart it mid-scan: never the machine's shared server. Tests run as
// root and PostgreSQL refuses to, so the cluster belongs to the system user `postgres`. The
// server runs as this process's child (an orphaned one is reaped: reap-leftovers.ts), with a
// random password (scram-sha-256) and its socket in the temp folder, not in /var/run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../runtime/net.js';

export interface PrivatePostgres {
  url: string;
  port: number;
  /** The server's own log (start, shutdown, the connections it ended). */
  log(): string;
  /** Stops the server: 'fast' ends every connection and shuts down cleanly; 'immediate' as a crash would. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
  /** stop then start: what `pg_ctl restart` does. */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server for good and removes its folder. */
  destroy(): Promise<void>;
}

const BIN = process.env.VAULTSCAN_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const live = new Set<() => void>();
process.once('exit', () => live.forEach((kill) => kill()));

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres']).stdout.toString().trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(ids.uid) || ids.uid === 0)
    throw new Error('a private PostgreSQL needs the system user postgres');
  return ids;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const { uid, gid } = postgresIds();
  const dir = mkdtempSync(join(tmpdir(), 'vstest-pg-'));
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  const initdb = spawnSync(
    join(BIN, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8'],
    { uid, gid, cwd: dir, env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' } },
  );
  rmSync(pwfile, { force: true });
  if (initdb.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${initdb.stderr.toString()}`);
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const kill = () => child?.kill('SIGKILL');
  live.add(kill);

  const start = async () => {
    const server = spawn(
      join(BIN, 'postgres'),
      [
        '-D',
        data,
        '-c',
        `port=${port}`,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${dir}`,
        '-c',
        'fsync=off',
        '-c',
        'max_connections=60',
      ],
      { uid, gid, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' } },
    );
    child = server;
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
    server.stdout?.on('data', keep);
    server.stderr?.on('data', keep);
    exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    try {
      await waitForPort('127.0.0.1', port, 30_000, () => server.exitCode === null && server.signalCode === null);
      // Accepting connections, not only listening: the port opens before recovery ends.
      for (let i = 0; i < 100 && !/ready to accept connections/.test(output.split('starting PostgreSQL').at(-1)!); i++)
        await new Promise((r) => setTimeout(r, 100));
    } catch (err) {
      server.kill('SIGKILL');
      throw new Error(`the private PostgreSQL did not start: ${(err as Error).message}\n${output}`);
    }
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    const server = child;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    // The postmaster's own signals: SIGINT is a fast shutdown, SIGQUIT an immediate one.
    server.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    log: () => output,
    stop,
    start,
    async restart(mode) {
      await stop(mode);
      await start();
    },
    async destroy() {
      await stop('fast');
      live.delete(kill);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
