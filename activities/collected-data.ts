// Collected data crosses Temporal from the appliance to the control plane. A Debian host's
// package inventory is ~100 KB of JSON; a batch of hosts would pass Temporal's 2 MB payload
// limit, so each host's data travels gzip-compressed (about a tenth) as base64. It holds no
// secret, so compressing it leaks nothing through its length.
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { CollectedData } from './auth/technology.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** CollectedData as gzip + base64. */
export type PackedCollectedData = string;

export async function packCollectedData(data: CollectedData): Promise<PackedCollectedData> {
  return (await gzipAsync(JSON.stringify(data))).toString('base64');
}

export async function unpackCollectedData(packed: PackedCollectedData): Promise<CollectedData> {
  return JSON.parse((await gunzipAsync(Buffer.from(packed, 'base64'))).toString('utf8')) as CollectedData;
}
