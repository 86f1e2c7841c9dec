// Vault access secrets sealed to one appliance with RFC 9180 HPKE (base mode,
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM). The control plane seals, per batch and
// vault record, a grant: the vault's settings and access secret, and the records and hosts the
// batch may use them for. Only the appliance's private key opens it, and only for the appliance,
// vault record and scan bound in the associated data: a grant replayed elsewhere fails to open.
// Whoever can decode Temporal payloads (codec key, codec endpoint, Web UI) sees only ciphertext.
import { createHash, type webcrypto } from 'node:crypto';
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { ScanError } from '../../domain/scan-error.js';
import type { Technology } from '../../domain/categories.js';

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
const INFO = new TextEncoder().encode('vaultscan sealed vault access v1');
const PUBLIC_KEY_BYTES = 32;

/** What a grant allows: one vault's access, for these records and these hosts of one batch. */
export interface AccessGrant {
  vault: { id: string; type: string; config: Record<string, unknown>; access: Record<string, unknown> };
  records: Record<
    string,
    {
      technology: Technology;
      username: string;
      port: number;
      /** The record's technology settings (how to log in and escalate): sealed, so nobody on the way changes them. */
      settings: Record<string, unknown>;
      locator: Record<string, unknown>;
      fields: Record<string, string | undefined>;
      /** Other items of this vault the record reads too (its root-delegation password). */
      also?: { locator: Record<string, unknown>; fields: Record<string, string | undefined> }[];
    }
  >;
  /** Each host with the record that covers it and the SSH host key pinned for it, if any. */
  hosts: { ip: string; authRecordId: string; hostKey: string | null }[];
  /** After this (ISO time) the grant opens nothing: a copy taken from history is soon useless. */
  notAfter: string;
}

/** A grant as it crosses Temporal: the key it needs, the vault it opens, and HPKE output. */
export interface SealedGrant {
  v: 1;
  /** The appliance it was sealed for (also bound inside, in the associated data). */
  applianceId: string;
  keyId: string;
  vaultId: string;
  /** The authentication records it serves (ids only: what they may do is inside). */
  authRecordIds: string[];
  /** HPKE encapsulated key, base64. */
  enc: string;
  /** HPKE ciphertext, base64. */
  ct: string;
}

/**
 * Where a grant may be used: by this appliance, for this scan, from the very workflow run of
 * the batch it was sealed for. Another run (a replay of a copied input) gets nothing.
 */
export interface GrantUse {
  applianceId: string;
  scanId: string;
  workflowId: string;
  runId: string;
}

/** The binding every seal and open agrees on; any difference and AES-GCM refuses to open. */
const aadOf = (c: GrantUse & { vaultId: string; keyId: string }) =>
  new TextEncoder().encode(
    [
      'vaultscan/access/v2',
      `appliance=${c.applianceId}`,
      `vault=${c.vaultId}`,
      `scan=${c.scanId}`,
      `workflow=${c.workflowId}`,
      `run=${c.runId}`,
      `key=${c.keyId}`,
    ].join('\n'),
  );

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

/** A short, stable name for a public key: the first 16 hex digits of its SHA-256. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/** Parses an appliance public key as it is enrolled (raw X25519, base64); throws on anything else. */
export function parsePublicKey(base64: string): Uint8Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length !== PUBLIC_KEY_BYTES || bytes.toString('base64') !== base64.trim()) {
    throw new Error('must be a raw X25519 public key: 32 bytes, base64');
  }
  return new Uint8Array(bytes);
}

export interface AppliancePrivateKey {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: webcrypto.CryptoKey;
}

/** A fresh key pair for an appliance; the raw private key is for its 0600 key file only. */
export async function generateApplianceKeyPair(): Promise<{ publicKey: Uint8Array; privateKeyRaw: Uint8Array }> {
  const pair = await suite.kem.generateKeyPair();
  return {
    publicKey: new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey)),
    privateKeyRaw: new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey)),
  };
}

export async function importAppliancePrivateKey(
  privateKeyRaw: Uint8Array,
  publicKey: Uint8Array,
): Promise<AppliancePrivateKey> {
  const privateKey = await suite.kem.deserializePrivateKey(toArrayBuffer(privateKeyRaw));
  return { keyId: keyIdOf(publicKey), publicKey, privateKey };
}

export async function sealGrant(
  grant: AccessGrant,
  recipientPublicKey: Uint8Array,
  use: GrantUse,
): Promise<SealedGrant> {
  const keyId = keyIdOf(recipientPublicKey);
  const context = { ...use, vaultId: grant.vault.id, keyId };
  // TextEncoder gives bytes of their own (a small Buffer would sit in Node's shared pool), so
  // zero-filling them after sealing leaves no copy behind but the JSON string itself.
  const plain = new TextEncoder().encode(JSON.stringify(grant));
  try {
    const sealed = await suite.seal(
      { recipientPublicKey: await suite.kem.deserializePublicKey(toArrayBuffer(recipientPublicKey)), info: INFO },
      plain.buffer as ArrayBuffer,
      toArrayBuffer(aadOf(context)),
    );
    return {
      v: 1,
      applianceId: use.applianceId,
      keyId,
      vaultId: grant.vault.id,
      authRecordIds: Object.keys(grant.records),
      enc: Buffer.from(sealed.enc).toString('base64'),
      ct: Buffer.from(sealed.ct).toString('base64'),
    };
  } finally {
    plain.fill(0);
  }
}

/** Refuses a grant whose envelope names another appliance (before looking for its key). */
export function assertSealedFor(sealed: SealedGrant, applianceId: string): void {
  if (sealed?.v !== 1 || typeof sealed.enc !== 'string' || typeof sealed.ct !== 'string') {
    throw new ScanError('SEALED_ACCESS_INVALID', 'the sealed vault access is not in a format this appliance reads');
  }
  if (sealed.applianceId !== applianceId) {
    throw new ScanError(
      'SEALED_ACCESS_INVALID',
      `the vault access was sealed for appliance ${String(sealed.applianceId)}, not for this one (${applianceId})`,
    );
  }
}

/**
 * Opens a grant sealed to this appliance for this use. The decrypted bytes are zero-filled
 * once parsed; the caller drops the grant as soon as the vault has been read.
 */
export async function openGrant(
  sealed: SealedGrant,
  key: AppliancePrivateKey,
  context: GrantUse,
  now = new Date(),
): Promise<AccessGrant> {
  assertSealedFor(sealed, context.applianceId);
  if (sealed.keyId !== key.keyId) {
    throw new ScanError(
      'APPLIANCE_KEY_ROTATED',
      `the vault access was sealed to appliance key ${sealed.keyId}, but this process holds key ${key.keyId}: the appliance was enrolled again`,
    );
  }
  let plain: Uint8Array | undefined;
  try {
    plain = new Uint8Array(
      await suite.open(
        { recipientKey: key.privateKey, enc: toArrayBuffer(Buffer.from(sealed.enc, 'base64')), info: INFO },
        toArrayBuffer(Buffer.from(sealed.ct, 'base64')),
        toArrayBuffer(aadOf({ ...context, vaultId: sealed.vaultId, keyId: key.keyId })),
      ),
    );
  } catch {
    throw new ScanError(
      'SEALED_ACCESS_INVALID',
      `the sealed access to vault record ${sealed.vaultId} did not open: it was altered, or sealed for another appliance, vault record, scan or batch run`,
    );
  }
  try {
    const grant = JSON.parse(new TextDecoder().decode(plain)) as AccessGrant;
    if (grant.vault?.id !== sealed.vaultId) {
      throw new ScanError('SEALED_ACCESS_INVALID', 'the sealed access names another vault record than its envelope');
    }
    if (!(new Date(grant.notAfter).getTime() >= now.getTime())) {
      throw new ScanError('SEALED_ACCESS_INVALID', `the sealed access expired at ${grant.notAfter}`);
    }
    return grant;
  } finally {
    plain.fill(0);
  }
}
