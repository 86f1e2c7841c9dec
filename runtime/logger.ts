// One structured logger for every process. Redaction is the last line of defence: secret
// values are never handed to the logger in the first place.
import { pino, type Logger } from 'pino';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const REDACT_KEYS = [
  'cookie',
  'set-cookie',
  'password',
  'token',
  'secretId',
  'secret_id',
  'privateKey',
  'passphrase',
  'access',
  'authorization',
  'x-vault-token',
];

export const REDACT_PATHS = [
  ...REDACT_KEYS,
  ...REDACT_KEYS.map((k) => `*.${k}`),
  ...REDACT_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
];

/** A request as logged: its path without the query string, which may carry something secret. */
function requestWithoutQuery(req: { method?: string; url?: string; hostname?: string; ip?: string; id?: unknown }) {
  return {
    method: req.method,
    path: (req.url ?? '').split('?')[0],
    hostname: req.hostname,
    remoteAddress: req.ip,
    id: req.id,
  };
}

/**
 * An error as logged, without the parameters of a failed query (drizzle and postgres.js attach
 * them, and drizzle repeats them in its message): the statement says enough, its values may not.
 */
function errorWithoutParameters(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  const strip = (value: unknown, depth: number): unknown => {
    if (!value || typeof value !== 'object' || depth > 5) return value;
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const key of ['params', 'parameters', 'values']) delete copy[key];
    if (typeof copy.message === 'string') copy.message = copy.message.replace(/\nparams: [\s\S]*$/, '');
    // In a stack, up to the first frame: a value may span lines (a PEM).
    if (typeof copy.stack === 'string') copy.stack = copy.stack.replace(/\nparams: [\s\S]*?(?=\n\s+at |$)/, '');
    if (copy.cause) copy.cause = strip(copy.cause, depth + 1);
    return copy;
  };
  return strip(serialized, 0);
}

export function createLogger(name: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    name,
    level: process.env.VAULTSCAN_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { req: requestWithoutQuery, err: errorWithoutParameters },
  };
  return destination ? pino(options, destination as never) : pino(options);
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let runtimeInstalled = false;

/** Routes the Temporal SDK's own logs into pino. Call once per process, before any worker. */
export function installTemporalRuntime(
  logger: Logger,
  options: { level?: LogLevel; handleSignals?: boolean } = {},
): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    // A process that orders its own shutdown (the embedded default) takes the signals itself;
    // the others drain their workers on a hang-up too, as on the SDK's own signals.
    shutdownSignals: options.handleSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2', 'SIGHUP'],
    logger: new DefaultLogger(options.level ?? 'WARN', (entry) =>
      logger[pinoLevel[entry.level]]({ ...entry.meta, sdk: true }, entry.message),
    ),
  });
}
