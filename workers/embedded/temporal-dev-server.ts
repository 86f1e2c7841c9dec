// Runs the official Temporal CLI's dev server (with its Web UI) as a child process: the
// embedded default's Temporal, and the one the test suite uses. The server is ours alone: its
// ports must be free before it starts, it counts as ready only once it is itself the listener
// (never another Temporal already on that port), it runs in a session of its own (a terminal's
// signals reach the process that started it, which stops it in order), and it gets SIGTERM
// from the kernel when that process dies, however it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { findOnPath, temporalCliPath } from '../../scripts/tools.mjs';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';
import { portHolders } from '../../runtime/listening-sockets.js';
import { freePort, listenError, waitForOwnListener } from '../../runtime/net.js';

export interface TemporalDevServerOptions {
  /** SQLite file that keeps workflows across restarts; in memory when omitted. */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  /** false for tests: no Web UI. */
  ui?: boolean;
  codecEndpoint?: string;
  /** Extra --dynamic-config-value KEY=JSON settings. */
  dynamicConfig?: Record<string, unknown>;
  /** Each line the server prints, unless it prints to logFile. */
  onOutput?: (line: string) => void;
  /**
   * A file for what the server prints (written anew at each start) instead of a pipe to this
   * process: a pipe breaks when this process dies, and the server, writing its shutdown
   * warnings to it, would die of SIGPIPE halfway through closing its database.
   */
  logFile?: string;
  /** Aborting gives up the start: the server is stopped and the start rejects. */
  signal?: AbortSignal;
}

/** How the server ended: forced when it did not stop within 10 s of SIGTERM and was killed. */
export interface DevServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  forced: boolean;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  process: ChildProcess;
  /** Settles when the server has exited, for whatever reason. */
  exited: Promise<DevServerExit>;
  stop(): Promise<DevServerExit>;
}

/** The CLI's spelling of our search attribute types. */
const cliType = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

/** A port the server needs but cannot have, in one sentence naming who holds it. */
async function refuseTakenPort(host: string, port: number, role: string): Promise<void> {
  const err = await listenError(host, port);
  if (!err) return;
  const holders = portHolders(port).map((h) => `pid ${h.pid}: ${h.command}`);
  throw new Error(
    `the Temporal dev server cannot have ${host}:${port} for its ${role}: ${err.code === 'EADDRINUSE' ? `another program holds it${holders.length ? ` (${holders.join('; ')})` : ''}` : err.message}`,
  );
}

/**
 * The command that runs the CLI so that it gets SIGTERM when the process that started it dies,
 * even of SIGKILL (PR_SET_PDEATHSIG, through util-linux's setpriv, which then execs the CLI);
 * without setpriv the CLI runs as it is.
 */
function diesWithParent(cli: string, args: string[]): [string, string[]] {
  const setpriv = findOnPath('setpriv');
  return setpriv ? [setpriv, ['--pdeathsig', 'TERM', '--', cli, ...args]] : [cli, args];
}

export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const cli = temporalCliPath();
  if (!existsSync(cli))
    throw new Error(
      `the Temporal CLI is not installed at ${cli}: run "node scripts/bootstrap.mjs" (npm start and npm test do this)`,
    );
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  await refuseTakenPort(host, port, 'frontend');
  if (options.ui !== false) await refuseTakenPort(host, uiPort, 'Web UI');
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--log-level',
    'warn',
    '--log-format',
    'json',
  ];
  if (options.ui === false) args.push('--headless');
  else args.push('--ui-ip', host, '--ui-port', String(uiPort), '--ui-disable-news-fetch');
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  if (options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);
  for (const key of SEARCH_ATTRIBUTES)
    args.push('--search-attribute', `${key.name}=${cliType[key.type as keyof typeof cliType]}`);
  for (const [k, v] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);

  const [command, commandArgs] = diesWithParent(cli, args);
  const log = options.logFile === undefined ? 'pipe' : openSync(options.logFile, 'w', 0o600);
  const child = spawn(command, commandArgs, { stdio: ['ignore', log, log], detached: true });
  if (typeof log === 'number') closeSync(log); // the server has its own copy
  const output: string[] = [];
  const recentOutput = () =>
    options.logFile === undefined ? output.slice(-20) : readFileSync(options.logFile, 'utf8').split('\n').slice(-21);
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      output.push(line);
      if (output.length > 200) output.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let running = true;
  let forced = false;
  const exited = new Promise<DevServerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal, forced });
    });
    // Not started at all (the program could not be run): no 'exit' follows.
    child.once('error', (err) => {
      output.push(err.message);
      running = false;
      resolve({ code: null, signal: null, forced });
    });
  });

  const stop = async () => {
    if (running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        forced = true;
        child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };
  try {
    const isAlive = () => running;
    const { signal } = options;
    await waitForOwnListener({ pid: child.pid!, host, port, timeoutMs: 60_000, isAlive, signal });
    if (options.ui !== false)
      await waitForOwnListener({ pid: child.pid!, host, port: uiPort, timeoutMs: 30_000, isAlive, signal });
  } catch (err) {
    await stop();
    throw new Error(`the Temporal dev server did not start: ${(err as Error).message}\n${recentOutput().join('\n')}`);
  }
  return {
    address: `${host}:${port}`,
    uiUrl: options.ui === false ? undefined : `http://${host}:${uiPort}`,
    process: child,
    exited,
    stop,
  };
}
