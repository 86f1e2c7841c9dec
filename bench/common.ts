// What every benchmark needs: a fresh PostgreSQL database, repeated runs, and honest stats.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import postgres from 'postgres';
import { openDatabase, type OpenedDatabase } from '../db/client.js';
import type { ScanEnvironment } from '../test/harness/scan-env.js';

const ADMIN_URL = process.env.VAULTSCAN_TEST_PG_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/test';

export async function freshPostgres(): Promise<{ database: OpenedDatabase; url: string; dispose(): Promise<void> }> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined });
  const name = `vstest_bench_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString() });
  return {
    database,
    url: url.toString(),
    async dispose() {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs: values };
}

export const fmt = (n: number, digits = 1) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function describeStats(s: Stats, unit: string): string {
  return `median ${fmt(s.median)} ${unit} (min ${fmt(s.min)}, max ${fmt(s.max)}; runs: ${s.runs.map((r) => fmt(r)).join(', ')})`;
}

/**
 * Waits for a scan without polling the API (polling at benchmark resolution would itself cost
 * the API and the database CPU that a user checking every few seconds does not), following
 * the workflow through its continue-as-new runs; then reads the scan as a user would.
 */
export async function scanFinished(
  env: ScanEnvironment,
  scanId: string,
): Promise<{ status: string; progress: { counts: Record<string, number> } }> {
  await env.client.workflow.getHandle(`scan-${scanId}`).result();
  const scan = (await env.api('GET', `/scans/${scanId}`)).body;
  if (scan.status !== 'FINISHED') throw new Error(`bench scan ${scanId} ended ${scan.status}`);
  return scan;
}

/** Peak resident set of a process in MiB (VmHWM), since start or since the last reset. */
export function peakRssMiB(pid: number | 'self' = 'self'): number {
  const kib = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib ?? 0) / 1024;
}

/** Starts a new peak-RSS window for a process (Linux: writing 5 to clear_refs resets VmHWM). */
export function resetPeakRss(pid: number | 'self' = 'self'): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
