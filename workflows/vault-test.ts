// POST /vaults/:id/test as a workflow: the control plane seals the vault record's access to the
// chosen appliance, and a worker of that appliance tries it against the vault, on the
// appliance's own queue like any scan's vault read. An appliance that takes nothing in time is
// the answer too (APPLIANCE_UNAVAILABLE), not a hang.
import { proxyActivities } from '@temporalio/workflow';
import type { ApplianceActivities } from '../activities/appliance.js';
import { failedVaultTest, type VaultTestItem, type VaultTestOutcome } from '../domain/vault-test.js';
import { applianceQueue, controlPlane } from './activity-stubs.js';
import { classifyFailure, isApplianceUnavailable } from './classify-failure.js';

export interface VaultTestInput {
  testId: string;
  vaultId: string;
  applianceId: string;
  item?: VaultTestItem;
  /** How long the appliance's calls to the vault may take. */
  timeoutMs: number;
  /** How long a worker of the appliance has to take the test. */
  waitForApplianceMs: number;
}

export async function vaultTestWorkflow(input: VaultTestInput): Promise<VaultTestOutcome> {
  const sealed = await controlPlane.sealVaultTestAccess({
    testId: input.testId,
    vaultId: input.vaultId,
    applianceId: input.applianceId,
    validForMs: input.waitForApplianceMs + input.timeoutMs + 5_000,
  });
  if ('failure' in sealed) return failedVaultTest(sealed.failure);
  const { testVault } = proxyActivities<Pick<ApplianceActivities, 'testVault'>>({
    taskQueue: applianceQueue(input.applianceId),
    scheduleToStartTimeout: input.waitForApplianceMs,
    startToCloseTimeout: input.timeoutMs + 5_000,
    retry: { maximumAttempts: 1 },
  });
  try {
    return await testVault({
      testId: input.testId,
      grant: sealed.grant,
      timeoutMs: input.timeoutMs,
      ...(input.item && { item: input.item }),
    });
  } catch (err) {
    if (isApplianceUnavailable(err))
      return failedVaultTest({
        code: 'APPLIANCE_UNAVAILABLE',
        vendorCode: null,
        httpStatus: null,
        message: `no worker of appliance ${input.applianceId} took the test within ${input.waitForApplianceMs} ms`,
      });
    return failedVaultTest(classifyFailure(err));
  }
}
