// One host, one technology: fetch the credential on the appliance, log in, collect, always
// purge, then publish. The whole sequence restarts (bounded) when a retryable failure or a
// lost appliance worker interrupts it; every attempt is kept for the report.
import { CancellationScope, isCancellation, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import { describeCode } from '../domain/errors.js';
import type { ReportCategory, Technology } from '../domain/categories.js';
import type { AttemptRecord, HostOutcome, HostPlan, ProfileSettings } from '../domain/scan-types.js';
import { ScanStatusAttr } from '../domain/search-attributes.js';
import type { CollectedData, PrivilegeCheck } from '../activities/auth/technology.js';
import { controlPlane, ownQueueActivities, sharedApplianceActivities } from './activity-stubs.js';
import { classifyFailure, type ClassifiedFailure } from './classify-failure.js';
import { backoffMs } from './retry.js';

export interface HostScanInput {
  scanId: string;
  ip: string;
  applianceId: string;
  technology: Technology;
  plan: HostPlan;
  profile: ProfileSettings;
}

type AttemptResult = { ok: true; privileges: PrivilegeCheck; data: CollectedData } | { ok: false; failure: ClassifiedFailure };

async function attemptOnce(input: HostScanInput): Promise<AttemptResult> {
  const { profile, plan } = input;
  const shared = sharedApplianceActivities(input.applianceId, profile);
  let holder: ReturnType<typeof ownQueueActivities> | undefined;
  let handle: string | undefined;
  try {
    const fetched = await shared.fetchCredentials({ scanId: input.scanId, ip: input.ip, plan, vaultTimeoutMs: profile.timeouts.vaultMs });
    handle = fetched.handle;
    holder = ownQueueActivities(fetched.queue, profile);
    const privileges = await holder.authenticate({
      handle,
      ip: input.ip,
      port: plan.port,
      technology: input.technology,
      username: plan.username,
      connectTimeoutMs: profile.timeouts.connectMs,
      commandTimeoutMs: profile.timeouts.commandMs,
    });
    const data = await holder.collect({ handle, commandTimeoutMs: profile.timeouts.commandMs });
    return { ok: true, privileges, data };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { ok: false, failure: classifyFailure(err) };
  } finally {
    if (holder && handle) {
      const purge = holder.purgeSecrets;
      const held = handle;
      // Runs even when the scan is cancelled. If the holder is gone, so is the secret.
      await CancellationScope.nonCancellable(() => purge({ handle: held }).catch(() => undefined));
    }
  }
}

export async function hostScanWorkflow(input: HostScanInput): Promise<HostOutcome> {
  const attempts: AttemptRecord[] = [];
  const maxAttempts = Math.max(1, input.profile.retry.maxAttempts);
  let result: AttemptResult | undefined;
  for (let attemptNo = 1; attemptNo <= maxAttempts; attemptNo++) {
    result = await attemptOnce(input);
    const at = new Date().toISOString();
    if (result.ok) {
      const refused = result.privileges.ok ? null : result.privileges;
      attempts.push({ attemptNo, code: refused?.code ?? null, vendorCode: null, httpStatus: null, message: refused?.message ?? null, at });
      break;
    }
    const { code, vendorCode, httpStatus, message } = result.failure;
    attempts.push({ attemptNo, code, vendorCode, httpStatus, message, at });
    if (!describeCode(code).retryable || attemptNo === maxAttempts) break;
    await sleep(backoffMs(input.profile.retry, attemptNo));
  }
  if (!result) throw new Error('unreachable: at least one attempt runs');

  let category: ReportCategory;
  const last: AttemptRecord = attempts[attempts.length - 1]!;
  if (result.ok) category = result.privileges.ok ? 'PASSED' : 'INSUFFICIENT_PRIVILEGES';
  else category = describeCode(result.failure.code).category;

  await CancellationScope.nonCancellable(() =>
    controlPlane.publishHostResult({
      scanId: input.scanId,
      ip: input.ip,
      technology: input.technology,
      category,
      errorCode: last.code,
      vendorCode: last.vendorCode,
      cause: last.message,
      login: input.plan.username,
      authRecordId: input.plan.authRecordId,
      facts: result.ok ? result.data.facts : null,
      packages: result.ok ? result.data.packages : [],
      attempts,
    }),
  );
  upsertSearchAttributes([{ key: ScanStatusAttr, value: category }]);
  return { ip: input.ip, technology: input.technology, category, code: last.code };
}
