// AES-256-GCM payload codec: every payload that crosses Temporal (inputs, results, failures,
// heartbeats, queries, signals, memos) is sealed, tagged with the key id so keys can rotate.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import protos from '@temporalio/proto';

// A CommonJS package: Node's ESM loader sees only its default export.
const { temporal } = protos;
import type { Keyring } from './keyring.js';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const fromUtf8 = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());

export interface EncryptionCodecOptions {
  /**
   * Pass payloads that are not encrypted through as they are. Only for the codec endpoint,
   * which shows a person whatever is there; workers and clients refuse them, so nobody who
   * can reach Temporal but lacks the key can hand vaultscan's code an input of their own.
   */
  acceptPlaintext?: boolean;
}

/** A payload that is not sealed with this deployment's key, refused. */
export class UnencryptedPayloadError extends Error {
  override readonly name = 'UnencryptedPayloadError';
}

export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keyring: Keyring,
    private readonly options: EncryptionCodecOptions = {},
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.activeKeyId;
    const key = this.keyring.keys.get(keyId)!;
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(keyId) },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (fromUtf8(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) {
        if (this.options.acceptPlaintext) return payload;
        throw new UnencryptedPayloadError(
          `refused a payload that is not encrypted (encoding "${fromUtf8(payload.metadata?.encoding)}"): every vaultscan payload is sealed with the codec key`,
        );
      }
      const keyId = fromUtf8(payload.metadata?.[KEY_ID_METADATA]);
      const key = this.keyring.keys.get(keyId);
      if (!key) throw new Error(`payload encrypted with unknown key id "${keyId}"`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}
