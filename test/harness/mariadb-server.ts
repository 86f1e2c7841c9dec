// A MariaDB server of the test's own, for what the machine's shared one (127.0.0.1:3306) cannot
// show: TLS with the test's CA (the shared server may have none), or a server without TLS where
// the shared one has it. mariadb-install-db into a temp folder owned by the system user mysql,
// mariadbd as this process's child on one loopback address and a spare port, the test's
// certificate when given (else --skip-ssl). The admin is root over the server's own socket.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, waitForPort } from '../../runtime/net.js';
import type { CertificateFiles } from './tls-certs.js';

export interface MariaDbServer {
  address: string;
  port: number;
  /** root, over the server's Unix socket. */
  admin: mysql.Connection;
  log(): string;
  stop(): Promise<void>;
}

const live = new Set<() => void>();
process.once('exit', () => live.forEach((kill) => kill()));

function mysqlIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'mysql']).stdout.toString().trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(ids.uid) || ids.uid === 0) throw new Error('a private MariaDB needs the system user mysql');
  return ids;
}

export interface MariaDbOptions {
  address: string;
  /** More addresses it listens on (same port): a host its certificate does not name. */
  alsoListenOn?: string[];
  /** Its server certificate and key: TLS on; without them, --skip-ssl. */
  tls?: CertificateFiles;
}

export async function startMariaDb(options: MariaDbOptions): Promise<MariaDbServer> {
  const { address } = options;
  const { uid, gid } = mysqlIds();
  const dir = mkdtempSync(join(tmpdir(), 'vstest-mariadb-'));
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const install = spawnSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { cwd: dir, env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' } },
  );
  if (install.status !== 0) {
    remove();
    throw new Error(`mariadb-install-db failed: ${install.stderr.toString()}${install.stdout.toString()}`);
  }
  const tls: string[] = ['--skip-ssl'];
  if (options.tls) {
    for (const [from, to] of [
      [options.tls.cert, 'server.pem'],
      [options.tls.key, 'server.key'],
    ] as const) {
      copyFileSync(from, join(dir, to));
      chownSync(join(dir, to), uid, gid);
    }
    tls.splice(0, 1, `--ssl-cert=${join(dir, 'server.pem')}`, `--ssl-key=${join(dir, 'server.key')}`);
  }
  const port = await freePort(address);
  const socket = join(dir, 'mysqld.sock');
  const errorLog = join(dir, 'error.log');
  const server: ChildProcess = spawn(
    '/usr/sbin/mariadbd',
    [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${data}`,
      `--bind-address=${[address, ...(options.alsoListenOn ?? [])].join(',')}`,
      `--port=${port}`,
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=16M',
      ...tls,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const kill = () => server.kill('SIGKILL');
  live.add(kill);
  const alive = () => server.exitCode === null && server.signalCode === null;
  const log = () => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  let admin: mysql.Connection;
  try {
    await waitForPort(address, port, 30_000, alive);
    admin = await mysql.createConnection({ socketPath: socket, user: 'root' });
  } catch (err) {
    kill();
    await exited;
    live.delete(kill);
    const text = log();
    remove();
    throw new Error(`the private MariaDB did not start: ${(err as Error).message}\n${text}`);
  }
  return {
    address,
    port,
    admin,
    log,
    async stop() {
      await admin.end().catch(() => undefined);
      if (alive()) {
        server.kill('SIGTERM');
        const timer = setTimeout(kill, 15_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(kill);
      remove();
    },
  };
}
