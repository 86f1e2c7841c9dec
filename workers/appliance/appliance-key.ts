// The appliance's HPKE key pair. Made on the appliance's own host and kept there: a file only
// its owner can read (0600) in the appliance's data folder, or VAULTSCAN_APPLIANCE_KEY. Only the
// public half leaves, once, with an enrolment code. Every process of one appliance shares it.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  generateApplianceKeyPair,
  importAppliancePrivateKey,
  keyIdOf,
  type AppliancePrivateKey,
} from '../../activities/secrets/sealed-access.js';
import type { ApplianceKeyHolder } from '../../activities/appliance.js';

interface KeyFile {
  applianceId: string;
  keyId: string;
  publicKey: string;
  privateKey: string;
  /** SHA-256 of the code it was enrolled with: a restart with that code still set is no re-enrolment. */
  enrolledWithCode?: string;
}

const codeHash = (code: string) => createHash('sha256').update(code).digest('hex');

/** Whether the key file there was enrolled with this very code (a restart, not a rotation). */
export function enrolledWithCode(file: string, code: string): boolean {
  if (!existsSync(file)) return false;
  return (JSON.parse(readFileSync(file, 'utf8')) as KeyFile).enrolledWithCode === codeHash(code);
}

export const keyFilePath = (dataDir: string, applianceId: string) => join(dataDir, `appliance-${applianceId}.key`);

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410), so Node can derive its public half.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a raw X25519 private key. */
function publicKeyOf(privateKeyRaw: Uint8Array): Uint8Array {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, privateKeyRaw]);
  try {
    const jwk = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    return new Uint8Array(Buffer.from(String(jwk.x), 'base64url'));
  } finally {
    der.fill(0);
  }
}

/** Reads the key from VAULTSCAN_APPLIANCE_KEY (base64 raw private key) or the key file. */
async function readKey(file: string, fromEnv: string | undefined): Promise<AppliancePrivateKey | undefined> {
  if (fromEnv) {
    const raw = new Uint8Array(Buffer.from(fromEnv.trim(), 'base64'));
    if (raw.length !== 32)
      throw new Error('VAULTSCAN_APPLIANCE_KEY must be a raw X25519 private key: 32 bytes, base64');
    try {
      return await importAppliancePrivateKey(raw, publicKeyOf(raw));
    } finally {
      raw.fill(0);
    }
  }
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  const raw = new Uint8Array(Buffer.from(parsed.privateKey, 'base64'));
  try {
    return await importAppliancePrivateKey(raw, new Uint8Array(Buffer.from(parsed.publicKey, 'base64')));
  } finally {
    raw.fill(0);
  }
}

/**
 * The key this process holds. When a grant names another key id, the file is read again once:
 * another process of this appliance may have enrolled a new key since this one started.
 */
export async function loadApplianceKey(options: { file: string; fromEnv?: string }): Promise<
  ApplianceKeyHolder & {
    current(): AppliancePrivateKey | undefined;
  }
> {
  let key = await readKey(options.file, options.fromEnv);
  return {
    current: () => key,
    async forKeyId(keyId) {
      if (key?.keyId === keyId) return key;
      key = (await readKey(options.file, options.fromEnv)) ?? key;
      return key?.keyId === keyId ? key : undefined;
    },
  };
}

/**
 * Enrols: makes a fresh key pair, presents its public half and the one-time code to the API,
 * and only once the API has accepted it replaces the key file (atomically, mode 0600).
 */
export async function enrolAppliance(options: {
  apiUrl: string;
  applianceId: string;
  code: string;
  file: string;
}): Promise<{ keyId: string }> {
  const pair = await generateApplianceKeyPair();
  try {
    const url = `${options.apiUrl.replace(/\/+$/, '')}/api/v1/appliances/${options.applianceId}/enrolment`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: options.code, publicKey: Buffer.from(pair.publicKey).toString('base64') }),
    });
    const body = (await res.json().catch(() => ({}))) as { message?: string; keyId?: string };
    if (!res.ok)
      throw new Error(`enrolment refused by ${url} (HTTP ${res.status}): ${body.message ?? 'no reason given'}`);
    const keyId = keyIdOf(pair.publicKey);
    const record: KeyFile = {
      applianceId: options.applianceId,
      keyId,
      publicKey: Buffer.from(pair.publicKey).toString('base64'),
      privateKey: Buffer.from(pair.privateKeyRaw).toString('base64'),
      enrolledWithCode: codeHash(options.code),
    };
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    const temp = `${options.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(record)}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(temp, 0o600);
    renameSync(temp, options.file);
    return { keyId };
  } finally {
    pair.privateKeyRaw.fill(0);
  }
}
