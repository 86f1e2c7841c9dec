import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MASTER_KEYS_ENV,
  MASTER_KEY_FILE_ENV,
  SecretBox,
  SecretBoxError,
  ensureKeyFile,
  loadKeyring,
  type Keyring,
} from '../db/crypto.js';

const keyring = (...ids: string[]): Keyring => ({
  activeKeyId: ids[0]!,
  keys: new Map(ids.map((id) => [id, randomBytes(32)])),
});
const secret = { token: 'hvs.planted-7f3a9c1e', roleId: 'role-1' };

/** Flips one bit of one base64 field of an envelope and re-encodes it. */
function tamper(envelope: string, field: 2 | 3 | 4): string {
  const parts = envelope.split(':');
  const bytes = Buffer.from(parts[field]!, 'base64');
  bytes[0] = bytes[0]! ^ 1;
  parts[field] = bytes.toString('base64');
  return parts.join(':');
}

describe('SecretBox', () => {
  const box = new SecretBox(keyring('k1'));

  it('round-trips a value and leaves no plaintext in the envelope', () => {
    const sealed = box.seal(secret, 'vault_records:1');
    expect(sealed).toMatch(/^v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain('planted');
    expect(Buffer.from(sealed.split(':')[4]!, 'base64').toString('latin1')).not.toContain('planted');
    expect(box.open(sealed, 'vault_records:1')).toEqual(secret);
  });

  it('uses a fresh IV every time', () => {
    const a = box.seal(secret, 'r');
    const b = box.seal(secret, 'r');
    expect(a.split(':')[2]).not.toBe(b.split(':')[2]);
    expect(a).not.toBe(b);
  });

  it('detects tampering with the IV, the tag or the ciphertext', () => {
    const sealed = box.seal(secret, 'vault_records:1');
    for (const field of [2, 3, 4] as const) {
      expect(() => box.open(tamper(sealed, field), 'vault_records:1')).toThrow(SecretBoxError);
    }
  });

  it('refuses a ciphertext moved to another row (wrong associated data)', () => {
    const sealed = box.seal(secret, 'vault_records:1');
    expect(() => box.open(sealed, 'vault_records:2')).toThrow(/belongs to another record/);
  });

  it('refuses a rewritten key id even when that key exists', () => {
    const two = new SecretBox({
      activeKeyId: 'k1',
      keys: new Map([
        ['k1', randomBytes(32)],
        ['k2', randomBytes(32)],
      ]),
    });
    const sealed = two.seal(secret, 'r');
    expect(() => two.open(sealed.replace(':k1:', ':k2:'), 'r')).toThrow(SecretBoxError);
  });

  it('rejects malformed envelopes and unknown keys with messages free of the secret', () => {
    expect(() => box.open('plain text', 'r')).toThrow('not a sealed value of format v1');
    expect(() => box.open('v1:k1:AAAA:AAAA:AAAA', 'r')).toThrow('truncated or malformed');
    const other = new SecretBox(keyring('k9'));
    const err = (() => {
      try {
        box.open(other.seal(secret, 'r'), 'r');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toBe('the value was sealed with master key "k9", which is not in the keyring');
  });

  it('rotates keys: old ciphertexts still open, new seals use the active key', () => {
    const old = keyring('2024');
    const oldBox = new SecretBox(old);
    const sealedUnderOld = oldBox.seal(secret, 'vault_records:1');

    const rotated: Keyring = {
      activeKeyId: '2025',
      keys: new Map([
        ['2025', randomBytes(32)],
        ['2024', old.keys.get('2024')!],
      ]),
    };
    const newBox = new SecretBox(rotated);
    expect(newBox.open(sealedUnderOld, 'vault_records:1')).toEqual(secret);
    const resealed = newBox.seal(secret, 'vault_records:1');
    expect(SecretBox.keyIdOf(resealed)).toBe('2025');
    expect(SecretBox.keyIdOf(sealedUnderOld)).toBe('2024');
    expect(() => oldBox.open(resealed, 'vault_records:1')).toThrow(/master key "2025"/);
  });

  it('refuses a keyring whose active key is missing or not 32 bytes', () => {
    expect(() => new SecretBox({ activeKeyId: 'x', keys: new Map() })).toThrow('active key "x"');
    expect(() => new SecretBox({ activeKeyId: 'x', keys: new Map([['x', randomBytes(16)]]) })).toThrow(
      'must be 32 bytes',
    );
  });
});

describe('loadKeyring and ensureKeyFile', () => {
  const saved = { keys: process.env[MASTER_KEYS_ENV], file: process.env[MASTER_KEY_FILE_ENV] };
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'vaultscan-keys-'));
    dirs.push(dir);
    return dir;
  };

  afterEach(() => {
    for (const [name, value] of [
      [MASTER_KEYS_ENV, saved.keys],
      [MASTER_KEY_FILE_ENV, saved.file],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reads VAULTSCAN_MASTER_KEYS with the first key active', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    process.env[MASTER_KEYS_ENV] = `new:${a.toString('base64')},old:${b.toString('base64')}`;
    const ring = loadKeyring();
    expect(ring.activeKeyId).toBe('new');
    expect(ring.keys.get('old')?.equals(b)).toBe(true);
  });

  it('reads the key file named by VAULTSCAN_MASTER_KEY_FILE', () => {
    delete process.env[MASTER_KEYS_ENV];
    const file = join(tempDir(), 'master.keys');
    writeFileSync(file, `f1:${randomBytes(32).toString('base64')}\n`);
    process.env[MASTER_KEY_FILE_ENV] = file;
    expect(loadKeyring().activeKeyId).toBe('f1');
  });

  it('says what to set when there is no key at all', () => {
    delete process.env[MASTER_KEYS_ENV];
    delete process.env[MASTER_KEY_FILE_ENV];
    expect(() => loadKeyring()).toThrow(/VAULTSCAN_MASTER_KEYS/);
  });

  it('generates a default key file once, readable only by its owner, and reuses it', () => {
    delete process.env[MASTER_KEYS_ENV];
    delete process.env[MASTER_KEY_FILE_ENV];
    const file = join(tempDir(), 'nested', 'master.keys');
    const first = loadKeyring(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const contents = readFileSync(file, 'utf8');
    const again = ensureKeyFile(file);
    expect(readFileSync(file, 'utf8')).toBe(contents);
    expect(again.activeKeyId).toBe(first.activeKeyId);
    expect(again.keys.get(again.activeKeyId)?.equals(first.keys.get(first.activeKeyId)!)).toBe(true);
    const box = new SecretBox(again);
    expect(new SecretBox(first).open(box.seal(secret, 'r'), 'r')).toEqual(secret);
  });
});
