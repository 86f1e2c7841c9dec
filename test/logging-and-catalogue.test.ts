import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../runtime/logger.js';
import { describeCode, isErrorCode } from '../domain/errors.js';
import { REPORT_CATEGORIES } from '../domain/categories.js';

describe('logging', () => {
  it('redacts secret-looking fields at any depth it is given', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const logger = createLogger('test', out);
    logger.info(
      {
        password: 'pw-leak-1',
        access: { token: 'tok-leak-2' },
        vault: { config: { secretId: 'sid-leak-3' } },
        req: { headers: { authorization: 'Bearer b-leak-4' } },
      },
      'hello',
    );
    await new Promise((r) => setImmediate(r));
    const text = chunks.join('');
    expect(text).toContain('hello');
    for (const leak of ['pw-leak-1', 'tok-leak-2', 'sid-leak-3', 'b-leak-4']) expect(text).not.toContain(leak);
    expect(text).toContain('[redacted]');
  });
});

describe('the error catalogue', () => {
  it('holds every code the architecture brief requires, each with a report category', () => {
    const required = [
      'VAULT_UNREACHABLE',
      'VAULT_TLS_ERROR',
      'VAULT_AUTH_FAILED',
      'VAULT_PERMISSION_DENIED',
      'VAULT_SECRET_NOT_FOUND',
      'VAULT_RATE_LIMITED',
      'VAULT_UNAVAILABLE',
      'VAULT_BAD_RESPONSE',
      'VAULT_TIMEOUT',
      'TARGET_UNREACHABLE',
      'TARGET_TIMEOUT',
      'HOST_KEY_MISMATCH',
      'AUTH_FAILED',
      'AUTH_METHOD_REJECTED',
      'PRIVILEGE_ESCALATION_FAILED',
      'INSUFFICIENT_PRIVILEGES',
      'COLLECTION_FAILED',
      'NO_AUTH_RECORD',
      'CONFIG_INVALID',
      'SECRET_EXPIRED',
    ];
    for (const code of required) {
      expect(isErrorCode(code), code).toBe(true);
      if (isErrorCode(code)) expect(REPORT_CATEGORIES).toContain(describeCode(code).category);
    }
    expect(describeCode('AUTH_FAILED').retryable).toBe(false);
    expect(describeCode('VAULT_UNAVAILABLE').retryable).toBe(true);
    expect(describeCode('TARGET_UNREACHABLE').category).toBe('UNREACHABLE');
    expect(describeCode('NO_AUTH_RECORD').category).toBe('NOT_ATTEMPTED');
  });
});
