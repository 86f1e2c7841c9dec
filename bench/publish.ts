// Figure 4: publishing per-host results with ~1,500-package inventories into PostgreSQL.
import { randomBytes } from 'node:crypto';
import { applianceRepo, profileRepo, resultRepo, scanRepo } from '../db/repositories/index.js';
import { describeStats, freshPostgres, stats, type Stats } from './common.js';

const HOSTS = 40;
const PACKAGES = 1_500;
const PARALLEL = 4;

function inventory(host: number) {
  return Array.from({ length: PACKAGES }, (_, i) => ({
    name: `pkg-${i}-${randomBytes(3).toString('hex')}`,
    version: `1.${host}.${i}-1+deb12u1`,
    arch: 'amd64',
  }));
}

export async function benchPublish(runs = 5): Promise<{ rowsPerSecond: Stats; text: string }> {
  const { database, dispose } = await freshPostgres();
  const db = database.db;
  try {
    const appliance = await applianceRepo.ensure(db, 'bench');
    const profile = await profileRepo.getDefault(db);
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) {
      const scan = await scanRepo.create(db, {
        title: 'bench',
        targets: '10.0.0.0/24',
        optionProfileId: profile.id,
        applianceId: appliance.id,
      });
      const inputs = Array.from({ length: HOSTS }, (_, h) => ({
        scanId: scan.id,
        ip: `10.0.0.${h + 1}`,
        technology: 'unix',
        category: 'PASSED' as const,
        errorCode: null,
        vendorCode: null,
        cause: null,
        login: 'scanner',
        authRecordId: null,
        facts: { 'os.id': 'debian' },
        packages: inventory(h),
        attempts: [
          { attemptNo: 1, code: null, vendorCode: null, httpStatus: null, message: null, at: new Date().toISOString() },
        ],
      }));
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < inputs.length) await resultRepo.publish(db, inputs[next++]!);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      rates.push((HOSTS * PACKAGES) / seconds);
    }
    const rowsPerSecond = stats(rates);
    return {
      rowsPerSecond,
      text: `${HOSTS} hosts × ${PACKAGES} packages, ${PARALLEL} publishers in parallel: ${describeStats(rowsPerSecond, 'inventory rows/s')}`,
    };
  } finally {
    await dispose();
  }
}
