// A PostgreSQL cluster of the test's own, never the machine's shared server (which trusts every
// password, so a wrong-password test there would prove nothing): initdb with scram-sha-256 into
// a temp folder, owned by the system user postgres (PostgreSQL refuses to run as root, and tests
// run as root), listening on one loopback address and a spare port, with TLS from the test's
// certificate when given. The server runs as this process's child, not daemonized by pg_ctl, so
// it ends with the test process (an 'exit' hook, and reap-leftovers.ts for one killed outright)
// and another test run's reaper never mistakes a live one for a leftover. stop() removes it all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort, waitForPort } from '../../runtime/net.js';
import type { CertificateFiles } from './tls-certs.js';

export interface PgCluster {
  address: string;
  port: number;
  /** The cluster's superuser, over TCP (no TLS). */
  admin: postgres.Sql;
  /** What the server logged so far (its stderr: connections refused, failed authentications). */
  log(): string;
  /** How many times the server logged a failed password authentication for this role. */
  failedAuthentications(role: string): number;
  /** How many logins of this role the server authorized (log_connections). */
  authorizedLogins(role: string): number;
  /** Turns the server's TLS on or off (ALTER SYSTEM, then a reload). */
  setSsl(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

export interface PgClusterOptions {
  /** The loopback address it listens on (default 127.0.0.1). */
  address?: string;
  /** More addresses it listens on (same port): a host its certificate does not name. */
  alsoListenOn?: string[];
  /** Its server certificate and key: TLS on (ssl = on) from the start. */
  tls?: CertificateFiles;
  /** pg_hba.conf lines placed before the default one (host all all 127.0.0.0/8 scram-sha-256: a loopback
   *  connection comes from 127.0.0.1, whatever address it goes to). */
  hba?: string[];
}

const BIN = process.env.VAULTSCAN_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const live = new Set<() => void>();
process.once('exit', () => live.forEach((kill) => kill()));

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres']).stdout.toString().trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(ids.uid) || ids.uid === 0)
    throw new Error('a private PostgreSQL cluster needs the system user postgres');
  return ids;
}

export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const address = options.address ?? '127.0.0.1';
  const { uid, gid } = postgresIds();
  const dir = mkdtempSync(join(tmpdir(), 'vstest-pgc-'));
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const env = { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' };
  const own = (file: string, mode = 0o600) => {
    chownSync(file, uid, gid);
    spawnSync('chmod', [mode.toString(8), file]);
  };
  const adminPassword = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
  own(pwfile);
  const initdb = spawnSync(
    join(BIN, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${pwfile}`, '--no-sync', '-E', 'UTF8'],
    { uid, gid, cwd: dir, env },
  );
  rmSync(pwfile, { force: true });
  if (initdb.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${initdb.stderr.toString()}`);
  }
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [...(options.hba ?? []), 'host all all 127.0.0.0/8 scram-sha-256', ''].join('\n'),
  );
  own(join(data, 'pg_hba.conf'));
  if (options.tls) {
    copyFileSync(options.tls.cert, join(data, 'server.crt'));
    copyFileSync(options.tls.key, join(data, 'server.key'));
    own(join(data, 'server.crt'));
    own(join(data, 'server.key'));
    // In the file, not on the command line (which would outrank ALTER SYSTEM: setSsl).
    appendFileSync(
      join(data, 'postgresql.conf'),
      "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
    );
  }
  const port = await freePort(address);
  let output = '';
  const server: ChildProcess = spawn(
    join(BIN, 'postgres'),
    [
      '-D',
      data,
      '-c',
      `port=${port}`,
      '-c',
      `listen_addresses=${[address, ...(options.alsoListenOn ?? [])].join(',')}`,
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
      '-c',
      'max_connections=40',
      '-c',
      'log_connections=on',
    ],
    { uid, gid, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const kill = () => server.kill('SIGKILL');
  live.add(kill);
  const alive = () => server.exitCode === null && server.signalCode === null;
  const remove = () => {
    live.delete(kill);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(address, port, 30_000, alive);
    for (let i = 0; i < 100 && !/ready to accept connections/.test(output); i++)
      await new Promise((r) => setTimeout(r, 100));
  } catch (err) {
    kill();
    await exited;
    remove();
    throw new Error(`the private PostgreSQL did not start: ${(err as Error).message}\n${output}`);
  }
  const admin = postgres({
    host: address,
    port,
    user: 'postgres',
    pass: adminPassword,
    database: 'postgres',
    ssl: false,
    max: 1,
    onnotice: () => undefined,
  });
  return {
    address,
    port,
    admin,
    log: () => output,
    failedAuthentications: (role) =>
      output.split('\n').filter((line) => line.includes(`password authentication failed for user "${role}"`)).length,
    authorizedLogins: (role) =>
      output.split('\n').filter((line) => line.includes(`connection authorized: user=${role} `)).length,
    async setSsl(on) {
      await admin.unsafe(`ALTER SYSTEM SET ssl = ${on ? 'on' : 'off'}`);
      await admin`select pg_reload_conf()`;
      for (let i = 0; i < 50; i++) {
        const [row] = await admin<{ ssl: string }[]>`select current_setting('ssl') as ssl`;
        // A reload reaches new backends; this one re-reads the file at its next command.
        if (row?.ssl === (on ? 'on' : 'off')) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the cluster's ssl did not turn ${on ? 'on' : 'off'}`);
    },
    async stop() {
      await admin.end({ timeout: 1 }).catch(() => undefined);
      if (alive()) {
        // The postmaster's own signal for a fast shutdown: every connection ends, cleanly.
        server.kill('SIGINT');
        const timer = setTimeout(kill, 15_000);
        await exited;
        clearTimeout(timer);
      }
      remove();
    },
  };
}
