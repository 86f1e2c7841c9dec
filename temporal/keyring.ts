import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** AES-256 keys by id; the active one encrypts, every one decrypts (so keys can rotate). */
export interface Keyring {
  activeKeyId: string;
  keys: Map<string, Buffer>;
}

/** Parses `id1:base64key,id2:base64key` — the first entry is the active key. */
export function parseKeyring(text: string, source: string): Keyring {
  const keys = new Map<string, Buffer>();
  let activeKeyId: string | undefined;
  for (const entry of text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf(':');
    const id = entry.slice(0, sep);
    const key = Buffer.from(entry.slice(sep + 1), 'base64');
    if (sep <= 0 || !/^[A-Za-z0-9._-]+$/.test(id))
      throw new Error(`${source}: each entry must be <key-id>:<base64 key>`);
    if (key.length !== 32) throw new Error(`${source}: key "${id}" must be 32 bytes (base64 of 32 random bytes)`);
    keys.set(id, key);
    activeKeyId ??= id;
  }
  if (!activeKeyId) throw new Error(`${source}: no key found`);
  return { activeKeyId, keys };
}

/** Creates a key file with one fresh key (mode 0600) unless it exists, then reads it. */
export function ensureKeyringFile(path: string): Keyring {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
    writeFileSync(path, `${id}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return parseKeyring(readFileSync(path, 'utf8'), path);
}

/** A keyring from an environment variable holding the keys, or one naming a key file. */
export function keyringFromEnv(varName: string, fileVarName: string, defaultFile?: string): Keyring {
  const inline = process.env[varName];
  if (inline) return parseKeyring(inline, varName);
  const file = process.env[fileVarName] ?? defaultFile;
  if (!file) throw new Error(`set ${varName} (id:base64key,…) or ${fileVarName} (a key file)`);
  return defaultFile && file === defaultFile ? ensureKeyringFile(file) : parseKeyring(readFileSync(file, 'utf8'), file);
}
