// At-rest encryption of the vault access secrets (tokens, AppRole secret ids, passwords…).
// AES-256-GCM with a fresh 12-byte IV per seal, in a versioned envelope that names its key,
// so master keys can rotate: the active key seals, every key in the keyring opens.
//
//   v1:<keyId>:<iv base64>:<tag base64>:<ciphertext base64>
//
// The associated data binds a ciphertext to its row ("vault_records:<id>"): copied into another
// row, it no longer opens.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ensureKeyringFile, keyringFromEnv, type Keyring } from '../temporal/keyring.js';

export type { Keyring };

export const MASTER_KEYS_ENV = 'VAULTSCAN_MASTER_KEYS';
export const MASTER_KEY_FILE_ENV = 'VAULTSCAN_MASTER_KEY_FILE';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Keys derived from the master keyring for one purpose, by master key id. */
export interface DerivedKeys {
  activeKeyId: string;
  keyFor(keyId: string): Buffer | undefined;
}

/** A sealed value could not be used. The message never contains any part of the secret. */
export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
}

/** What the repositories need of a SecretBox: seal for a row, open for the same row. */
export interface SecretSealer {
  seal(value: unknown, aad: string): string;
  open(envelope: string, aad: string): unknown;
}

export class SecretBox implements SecretSealer {
  constructor(private readonly keyring: Keyring) {
    const active = keyring.keys.get(keyring.activeKeyId);
    if (!active) throw new SecretBoxError(`the keyring's active key "${keyring.activeKeyId}" is not among its keys`);
    for (const [id, key] of keyring.keys) {
      if (key.length !== 32) throw new SecretBoxError(`master key "${id}" must be 32 bytes`);
      if (id.includes(':')) throw new SecretBoxError(`master key id "${id}" must not contain ":"`);
    }
  }

  get activeKeyId(): string {
    return this.keyring.activeKeyId;
  }

  /** Encrypts a JSON-serialisable value for the row named by `aad`. */
  seal(value: unknown, aad: string): string {
    const keyId = this.keyring.activeKeyId;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyring.keys.get(keyId)!, iv);
    cipher.setAAD(associatedData(keyId, aad));
    const plain = Buffer.from(JSON.stringify(value), 'utf8');
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    return [
      VERSION,
      keyId,
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      ciphertext.toString('base64'),
    ].join(':');
  }

  /** Decrypts what `seal` produced for the same `aad`; throws SecretBoxError otherwise. */
  open<T = unknown>(envelope: string, aad: string): T {
    const { keyId, iv, tag, ciphertext } = parseEnvelope(envelope);
    const key = this.keyring.keys.get(keyId);
    if (!key) throw new SecretBoxError(`the value was sealed with master key "${keyId}", which is not in the keyring`);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(associatedData(keyId, aad));
    decipher.setAuthTag(tag);
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new SecretBoxError('the sealed value failed authentication: it was altered, or belongs to another record');
    }
    try {
      return JSON.parse(plain.toString('utf8')) as T;
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Keys for another purpose (the audit trail's MACs), derived from each master key with HKDF,
   * so they rotate with it: the active one for new work, any of them to check old work.
   */
  derivedKeys(purpose: string): DerivedKeys {
    const derive = (key: Buffer) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `vaultscan/${purpose}`, 32));
    const cache = new Map<string, Buffer>();
    return {
      activeKeyId: this.keyring.activeKeyId,
      keyFor: (keyId) => {
        const master = this.keyring.keys.get(keyId);
        if (!master) return undefined;
        if (!cache.has(keyId)) cache.set(keyId, derive(master));
        return cache.get(keyId);
      },
    };
  }

  /** The key id an envelope was sealed with (to find values still under a retired key). */
  static keyIdOf(envelope: string): string {
    return parseEnvelope(envelope).keyId;
  }
}

// The version and key id are authenticated too, so the header cannot be edited either.
const associatedData = (keyId: string, aad: string) =>
  Buffer.from(`vaultscan-secretbox/${VERSION}/${keyId}/${aad}`, 'utf8');

function parseEnvelope(envelope: string): { keyId: string; iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  const parts = envelope.split(':');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError(`not a sealed value of format ${VERSION}`);
  const [, keyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
  const bytes = {
    iv: Buffer.from(iv, 'base64'),
    tag: Buffer.from(tag, 'base64'),
    ciphertext: Buffer.from(ciphertext, 'base64'),
  };
  if (bytes.iv.length !== IV_BYTES || bytes.tag.length !== TAG_BYTES)
    throw new SecretBoxError('the sealed value is truncated or malformed');
  return { keyId, ...bytes };
}

/**
 * The master keyring: VAULTSCAN_MASTER_KEYS ("id1:base64key,id2:base64key", the first one
 * active), else the key file named by VAULTSCAN_MASTER_KEY_FILE, else `defaultFile` — which the
 * embedded default creates on first start.
 */
export function loadKeyring(defaultFile?: string): Keyring {
  return keyringFromEnv(MASTER_KEYS_ENV, MASTER_KEY_FILE_ENV, defaultFile);
}

/** Creates a key file holding one fresh random key (mode 0600) unless it exists; returns its keyring. */
export function ensureKeyFile(path: string): Keyring {
  return ensureKeyringFile(path);
}
