// `npm run bench [pipeline|orchestration|scale|publish|api|report|vault-reads]`: runs the benchmarks and writes
// their raw figures into BENCHMARKS.md (between the markers). Each figure's line carries the
// date and command of the run that produced it; a run of some figures replaces only theirs.
// Not part of npm test.
import { cpus, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { benchPipeline } from './pipeline.js';
import { benchOrchestration } from './orchestration.js';
import { benchPublish } from './publish.js';
import { benchApiLoad } from './api-load.js';
import { benchScale } from './scale.js';
import { benchReport } from './report.js';
import { benchVaultReads } from './vault-reads.js';

const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);
const stamp = `${new Date().toISOString()}, \`npm run bench${only.length ? ` -- ${only.join(' ')}` : ''}\``;
const figures = new Map<number, string>();
const record = (figure: number, title: string, text: string) => {
  const line = `- figure ${figure}, ${title} (${stamp}): ${text}`;
  console.log(line);
  figures.set(figure, line);
};

if (wanted('pipeline'))
  record(1, 'pipeline vs bare loop', (await benchPipeline({ targets: 200, parallel: 32, runs: 3 })).text);
if (wanted('orchestration')) {
  const r = await benchOrchestration({ hosts: 5_000, parallel: 200, runs: 3 });
  record(2, 'orchestration alone', `${r.text}; CPU during the last run: ${r.cpu}`);
}
if (wanted('scale'))
  record(3, 'a 100,000-host scan', (await benchScale({ small: 10_000, large: 100_000, parallel: 200 })).text);
if (wanted('publish')) record(4, 'publishing', (await benchPublish(5)).text);
if (wanted('api')) record(5, 'API under load', (await benchApiLoad({ rate: 200, seconds: 30 })).text);
if (wanted('report'))
  record(
    6,
    'a 100,000-host Authentication Report',
    (await benchReport({ small: 10_000, large: 100_000, runs: 3 })).text,
  );
if (wanted('vault-reads'))
  record(
    7,
    'vault reads with the credential cache',
    (await benchVaultReads({ hosts: 10_000, credentials: 3, processes: 2, parallel: 200, runs: 3 })).text,
  );

const file = new URL('../BENCHMARKS.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const start = '<!-- bench:latest -->';
const end = '<!-- /bench:latest -->';
const previous = new RegExp(`${start}\\n([\\s\\S]*?)${end}`).exec(doc)?.[1] ?? '';
for (const line of previous.split('\n')) {
  const figure = Number(/^- figure (\d+),/.exec(line)?.[1]);
  if (figure && !figures.has(figure)) figures.set(figure, line);
}
const machine = `- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const lines = [machine, ...[...figures].sort(([a], [b]) => a - b).map(([, line]) => line)];
const block = `${start}\n${lines.join('\n')}\n${end}`;
writeFileSync(
  file,
  doc.includes(start)
    ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), block)
    : `${doc}\n## Latest run\n\n${block}\n`,
);
process.exit(0);
