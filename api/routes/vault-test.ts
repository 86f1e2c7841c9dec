// POST /vaults/:id/test: tries a vault record from an appliance, the way a scan would use it
// (its access sealed to that appliance, the call made by a worker on the appliance's queue), and
// answers ok, or the code, the vendor's code and the cause. Never a secret: given an item, the
// answer names the fields it holds, not their values. Every test lands in the audit trail.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { applianceRepo, vaultRepo } from '../../db/repositories/index.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import { CONTROL_PLANE_QUEUE } from '../../workflows/activity-stubs.js';
import type { Client } from '@temporalio/client';
import type { VaultTestInput, vaultTestWorkflow } from '../../workflows/vault-test.js';
import { failedVaultTest, type VaultTestOutcome } from '../../domain/vault-test.js';
import { applianceHasPollers } from '../appliance-status.js';
import { withAudit } from '../plugins/audit.js';
import { ApiProblem, badRequest } from '../problems.js';
import { anyVaultPart, CredentialFields, Id, IdParams } from '../schemas.js';
import { checkLocator } from '../vault-parts.js';
import type { ApiDeps } from './index.js';

/** How long a worker of the appliance has to take the test before the answer is that it is offline. */
export const VAULT_TEST_APPLIANCE_WAIT_MS = 15_000;

const VaultTestBody = Type.Object(
  {
    applianceId: Type.Optional({
      ...Id,
      description: 'The appliance that tries the vault (optional when only one is registered)',
    }),
    item: Type.Optional(
      Type.Object(
        {
          locator: anyVaultPart('locator', "An item to read as the test, in the vault type's terms"),
          fields: CredentialFields,
        },
        { additionalProperties: false, description: 'Read this item too; without it only the login is tried' },
      ),
    ),
  },
  { additionalProperties: false },
);

const VaultTestView = Type.Object({
  testId: Type.String(),
  vaultId: Type.String(),
  applianceId: Type.String(),
  ok: Type.Boolean(),
  code: Type.Union([Type.String(), Type.Null()], { description: 'The catalogue code when not ok' }),
  vendorCode: Type.Union([Type.String(), Type.Null()], { description: "The vault's own code, when it gave one" }),
  httpStatus: Type.Union([Type.Integer(), Type.Null()]),
  cause: Type.Union([Type.String(), Type.Null()]),
  fields: Type.Array(Type.Enum(SECRET_FIELD_NAMES), { description: 'The asked-for fields the item holds' }),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
});

/** The appliance named, or the only one there is. */
async function chooseAppliance(db: ApiDeps['db'], applianceId: string | undefined): Promise<string> {
  if (applianceId) {
    await applianceRepo.get(db, applianceId).catch(() => {
      throw badRequest('applianceId', `appliance ${applianceId} does not exist`);
    });
    return applianceId;
  }
  const some = await applianceRepo.list(db, { limit: 2 });
  if (some.rows.length === 1) return some.rows[0]!.id;
  throw badRequest(
    'applianceId',
    some.rows.length === 0
      ? 'no appliance is registered: create one (POST /appliances) and start its worker'
      : 'is required: several appliances are registered, name the one that should try the vault',
  );
}

/**
 * Runs the test workflow; an appliance with no worker polling at all is answered at once. A
 * Temporal that cannot be reached is the server's trouble (503), never the caller's input.
 */
async function runTest(temporal: Client, input: VaultTestInput): Promise<VaultTestOutcome> {
  try {
    if (!(await applianceHasPollers(temporal, input.applianceId)))
      return failedVaultTest({
        code: 'APPLIANCE_UNAVAILABLE',
        vendorCode: null,
        httpStatus: null,
        message: `no worker of appliance ${input.applianceId} is running: start it, then test again`,
      });
    return await temporal.workflow.execute<typeof vaultTestWorkflow>('vaultTestWorkflow', {
      taskQueue: CONTROL_PLANE_QUEUE,
      workflowId: `vault-test-${input.testId}`,
      args: [input],
      workflowExecutionTimeout: input.waitForApplianceMs + input.timeoutMs + 60_000,
    });
  } catch (err) {
    throw new ApiProblem(503, `the vault test could not run: ${(err as Error).message}`);
  }
}

export async function vaultTestRoutes(parent: FastifyInstance, { db, temporal }: ApiDeps): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  api.post(
    '/vaults/:id/test',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['vaults'],
        summary: 'Try a vault record from an appliance',
        description:
          'A worker of the appliance logs in to the vault with the record (and reads the item, if one is given), then answers ok or the code, vendor code and cause. No secret is ever returned.',
        params: IdParams,
        body: VaultTestBody,
        response: { 200: VaultTestView },
      },
    },
    async (req) => {
      const vault = await vaultRepo.get(db, req.params.id);
      const applianceId = await chooseAppliance(db, req.body?.applianceId);
      const item = req.body?.item;
      if (item) checkLocator(vault.type, item.locator, 'item.locator');
      const testId = randomUUID();
      const timeoutMs = typeof vault.config.timeoutMs === 'number' ? vault.config.timeoutMs : DEFAULT_VAULT_TIMEOUT_MS;
      const outcome = await runTest(temporal, {
        testId,
        vaultId: vault.id,
        applianceId,
        timeoutMs,
        waitForApplianceMs: VAULT_TEST_APPLIANCE_WAIT_MS,
        ...(item && { item: { locator: item.locator, fields: item.fields } }),
      });
      req.log.info({ testId, vaultId: vault.id, applianceId, ok: outcome.ok, code: outcome.code }, 'vault test');
      const answer = { testId, vaultId: vault.id, applianceId, ...outcome };
      // The trail says who tried which vault from where, and how it went: names, never values.
      return withAudit(
        req,
        async () => answer,
        () => ({
          recordId: vault.id,
          applianceId,
          detail: {
            testId,
            ok: outcome.ok,
            code: outcome.code,
            vendorCode: outcome.vendorCode,
            ...(item && { locator: item.locator }),
          },
        }),
      );
    },
  );
}
