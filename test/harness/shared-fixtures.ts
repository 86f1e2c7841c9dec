// vitest globalSetup: what each test file would otherwise make for itself, made once per run:
// the control plane's workflow bundle (webpack: seconds) and a migrated PGlite data directory
// (PostgreSQL's initdb inside WebAssembly: seconds). Named to the test processes in environment
// variables; a file run without them (a benchmark) makes its own. Both are made afresh each run,
// from the code and migrations as they are.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { bundleWorkflowCode } from '@temporalio/worker';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { workflowsPath } from '../../workers/control-plane/create-worker.js';
import { failureConverterPath } from '../../temporal/data-converter.js';

export const WORKFLOW_BUNDLE_ENV = 'VAULTSCAN_TEST_WORKFLOW_BUNDLE';
export const PGLITE_TEMPLATE_ENV = 'VAULTSCAN_TEST_PGLITE_TEMPLATE';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** The control plane's workflows, bundled as its worker would bundle them. */
export const bundleControlPlaneWorkflows = () =>
  bundleWorkflowCode({ workflowsPath, failureConverterPath, logger: silent as never });

/** Makes them; what it returns removes them when the run ends. */
export default async function makeSharedFixtures(): Promise<() => void> {
  const dir = fileURLToPath(new URL(`../../.test-runs/shared-${process.pid}`, import.meta.url));
  mkdirSync(dir, { recursive: true });

  const bundle = await bundleControlPlaneWorkflows();
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  process.env[WORKFLOW_BUNDLE_ENV] = bundlePath;

  const pglite = await PGlite.create('memory://');
  try {
    await migrate(drizzle(pglite), {
      migrationsFolder: fileURLToPath(new URL('../../db/migrations', import.meta.url)),
    });
    const templatePath = join(dir, 'pglite-template.tar');
    writeFileSync(templatePath, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
    process.env[PGLITE_TEMPLATE_ENV] = templatePath;
  } finally {
    await pglite.close();
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
