// One structured logger for every process. Redaction is the last line of defence: secret
// values are never handed to the logger in the first place.
import { pino, type Logger } from 'pino';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const REDACT_KEYS = [
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

export function createLogger(name: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    name,
    level: process.env.VAULTSCAN_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
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
    // A process that orders its own shutdown (the embedded default) takes the signals itself.
    ...(options.handleSignals === false ? { shutdownSignals: [] } : {}),
    logger: new DefaultLogger(options.level ?? 'WARN', (entry) =>
      logger[pinoLevel[entry.level]]({ ...entry.meta, sdk: true }, entry.message),
    ),
  });
}
