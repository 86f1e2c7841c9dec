// Runs the official Temporal CLI's dev server (with its Web UI) as a child process: the
// embedded default's Temporal, and the one the test suite uses.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { temporalCliPath } from '../../scripts/tools.mjs';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';
import { freePort, waitForPort } from '../net.js';

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
  onOutput?: (line: string) => void;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The CLI's spelling of our search attribute types. */
const cliType = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const cli = temporalCliPath();
  if (!existsSync(cli))
    throw new Error(
      `the Temporal CLI is not installed at ${cli}: run "node scripts/bootstrap.mjs" (npm start and npm test do this)`,
    );
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
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

  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      output.push(line);
      if (output.length > 200) output.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exitedPromise;
    clearTimeout(timer);
  };
  try {
    await waitForPort(host, port, 60_000, () => !exited);
    if (options.ui !== false) await waitForPort(host, uiPort, 30_000, () => !exited);
  } catch (err) {
    await stop();
    throw new Error(
      `the Temporal dev server did not start: ${(err as Error).message}\n${output.slice(-20).join('\n')}`,
    );
  }
  return {
    address: `${host}:${port}`,
    uiUrl: options.ui === false ? undefined : `http://${host}:${uiPort}`,
    process: child,
    stop,
  };
}
