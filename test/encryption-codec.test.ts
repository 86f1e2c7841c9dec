import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec } from '../temporal/encryption-codec.js';
import { parseKeyring } from '../temporal/keyring.js';

const key = () => randomBytes(32).toString('base64');

describe('EncryptionCodec', () => {
  const oldKey = `old:${key()}`;
  const newKey = `new:${key()}`;

  it('seals payloads so the plaintext is nowhere in the bytes, and opens them again', async () => {
    const codec = new EncryptionCodec(parseKeyring(oldKey, 'test'));
    const payload = defaultPayloadConverter.toPayload({ token: 'hvs.plain-token-123' })!;
    const [sealed] = await codec.encode([payload]);
    expect(Buffer.from(sealed!.data!).includes('plain-token-123')).toBe(false);
    expect(Buffer.from(sealed!.metadata!['encryption-key-id']!).toString()).toBe('old');
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual({ token: 'hvs.plain-token-123' });
  });

  it('rotates keys: new payloads use the active key, old ones still open', async () => {
    const before = new EncryptionCodec(parseKeyring(oldKey, 'test'));
    const after = new EncryptionCodec(parseKeyring(`${newKey},${oldKey}`, 'test'));
    const [old] = await before.encode([defaultPayloadConverter.toPayload('x')!]);
    const [fresh] = await after.encode([defaultPayloadConverter.toPayload('y')!]);
    expect(Buffer.from(fresh!.metadata!['encryption-key-id']!).toString()).toBe('new');
    expect((await after.decode([old!, fresh!])).map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['x', 'y']);
  });

  it('refuses tampered data and unknown key ids', async () => {
    const codec = new EncryptionCodec(parseKeyring(oldKey, 'test'));
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload('z')!]);
    const tampered = { ...sealed!, data: Buffer.from(sealed!.data!).map((b, i) => (i === 20 ? b ^ 1 : b)) };
    await expect(codec.decode([tampered])).rejects.toThrow();
    const stranger = new EncryptionCodec(parseKeyring(`other:${key()}`, 'test'));
    await expect(stranger.decode([sealed!])).rejects.toThrow(/unknown key id "old"/);
  });

  it('refuses a payload that is not encrypted, except where a person is shown what is there', async () => {
    const plain = defaultPayloadConverter.toPayload({ scanId: 'forged' })!;
    await expect(new EncryptionCodec(parseKeyring(oldKey, 'test')).decode([plain])).rejects.toThrow(
      /refused a payload that is not encrypted/,
    );
    const forPeople = new EncryptionCodec(parseKeyring(oldKey, 'test'), { acceptPlaintext: true });
    expect(await forPeople.decode([plain])).toEqual([plain]);
  });

  it('rejects malformed keyrings with a message that says what to fix', () => {
    expect(() => parseKeyring('nokey', 'VAULTSCAN_CODEC_KEYS')).toThrow(/<key-id>:<base64 key>/);
    expect(() => parseKeyring(`k:${Buffer.alloc(16).toString('base64')}`, 'VAULTSCAN_CODEC_KEYS')).toThrow(/32 bytes/);
  });
});
