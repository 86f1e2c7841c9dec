// Every payload in a workflow history, decoded with the payload codec as the Temporal Web UI
// (or anyone holding the codec key) would see it: inputs, results, markers, failures, memos.
import type { Payload, PayloadCodec } from '@temporalio/common';
import type protos from '@temporalio/proto';

type History = protos.temporal.api.history.v1.IHistory;

const isPayload = (value: unknown): value is Payload =>
  typeof value === 'object' &&
  value !== null &&
  'metadata' in value &&
  typeof (value as { metadata: unknown }).metadata === 'object' &&
  Object.prototype.hasOwnProperty.call((value as { metadata: object }).metadata ?? {}, 'encoding');

/** Finds every Payload anywhere in an object tree (protobuf messages are plain objects here). */
function collectPayloads(value: unknown, found: Payload[], seen = new Set<unknown>()): void {
  if (typeof value !== 'object' || value === null || seen.has(value) || ArrayBuffer.isView(value)) return;
  seen.add(value);
  if (isPayload(value)) {
    found.push(value);
    return;
  }
  for (const child of Array.isArray(value) ? value : Object.values(value)) collectPayloads(child, found, seen);
}

/** The decoded data of every payload in the history (a payload decoded to more payloads is opened too). */
export async function decodedPayloads(history: History, codec: PayloadCodec): Promise<Buffer[]> {
  const found: Payload[] = [];
  collectPayloads(history, found);
  const decoded = await codec.decode(found);
  expectAllDecoded(decoded);
  return decoded.map((p) => Buffer.from(p.data ?? new Uint8Array()));
}

function expectAllDecoded(payloads: Payload[]): void {
  for (const p of payloads) {
    const encoding = Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();
    if (encoding === 'binary/encrypted') throw new Error('a payload stayed encrypted after decoding');
  }
}
