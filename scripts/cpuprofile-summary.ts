/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function, largest first.
 * Used for docs/performance.md's "where each microsecond goes" tables.
 *
 * Usage: node --import tsx scripts/cpuprofile-summary.ts <file.cpuprofile> [top=25] [records]
 * With `records`, a column shows each function's self time in microseconds per record.
 *
 * @example
 * // node --import tsx scripts/cpuprofile-summary.ts /tmp/prof/CPU.*.cpuprofile 25 100000
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, recordsArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile-summary <file.cpuprofile> [top] [records]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const records = recordsArg ? Number(recordsArg) : 0;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]!)!;
  const dt = profile.timeDeltas[i] ?? 0;
  const f = node.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(node_modules\/|dist\/|src\/)/, '$1')}:${f.lineNumber + 1}` : '';
  const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
  self.set(name, (self.get(name) ?? 0) + dt);
  total += dt;
}
const idle = self.get('(idle)') ?? 0;
const busy = total - idle;
process.stdout.write(`profile ${(total / 1000).toFixed(0)} ms, of which idle ${(idle / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms${records ? ` (${(busy / records).toFixed(2)} us per record)` : ''}\n`);
process.stdout.write(`| self ms | % of busy |${records ? ' us/record |' : ''} function |\n|---:|---:|${records ? '---:|' : ''}---|\n`);
for (const [name, us] of [...self.entries()].filter(([n]) => n !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`| ${(us / 1000).toFixed(1)} | ${((100 * us) / busy).toFixed(1)} |${records ? ` ${(us / records).toFixed(3)} |` : ''} \`${name}\` |\n`);
}
