/**
 * scripts/metrics-dashboard.ts renders a metrics file as a self-contained HTML page; real headless
 * Chromium (Debian package `chromium`, installed by `make setup`) opens it from disk, with network
 * features off and a fresh profile, and the DOM it dumps must show that every chart drew its
 * points: the page counts the non-blank pixels of each plot area after drawing (grid lines off, so
 * only data paints there). A page built from a file with no figures is the control: it must report
 * nothing painted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { emfDocument, type MetricFigures } from '../../src/core/emf.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/metrics-dashboard.ts');
const dir = mkdtempSync(join(tmpdir(), 'dashboard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

/** Runs headless Chromium on `html` and returns the DOM after scripts ran (bounded by a timeout). */
async function dumpDom(html: string): Promise<string> {
  const profile = mkdtempSync(join(dir, 'profile-'));
  const child = spawn(
    CHROMIUM!,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=10000',
      '--dump-dom',
      pathToFileURL(html).href,
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // Chromium's own helper processes too
    } catch {
      // gone
    }
  }, 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // all gone already
  }
  assert.equal(code, 0, `chromium exited ${code}: ${err.slice(-2000)}`);
  return out;
}

function render(metricsText: string, name: string): string {
  const input = join(dir, `${name}.emf`);
  const output = join(dir, `${name}.html`);
  writeFileSync(input, metricsText);
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, input, output], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return output;
}

const chartAttrs = (dom: string, id: string): { points: number; painted: number } => {
  const m = new RegExp(`<div class="chart" id="${id}" data-points="(\\d+)" data-painted="(\\d+)"`).exec(dom);
  assert.ok(m, `chart ${id} has its markers`);
  return { points: Number(m[1]), painted: Number(m[2]) };
};

describe('metrics dashboard (make dashboard)', { skip: CHROMIUM ? false : 'chromium is not installed (make setup installs it)' }, () => {
  test('renders rate, lag and failures from a metrics file in headless Chromium, offline, with the chart library inlined', async () => {
    // Prepare: 15 intervals of two shards, as bin/lastopens writes them, plus one unreadable line.
    const lines: string[] = [];
    for (let i = 0; i < 15; i++) {
      for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
        const f: MetricFigures = new Map([
          ['RecordsProcessed', { value: 60_000 + i, unit: 'Count' }],
          ['RecordsPerSecond', { value: 1_000 + 20 * i, unit: 'Count/Second' }],
          ['MillisBehindLatestMax', { value: 9_000 - 500 * i, unit: 'Milliseconds' }],
          ['ProcessingFailures', { value: i % 4, unit: 'Count' }],
          ['RecordsDeadLettered', { value: i % 3, unit: 'Count' }],
          ['CheckpointFailures', { value: i === 7 ? 2 : 0, unit: 'Count' }],
        ]);
        lines.push(emfDocument(f, { namespace: 'KinesisStreams', dimensions: { StreamName: 'app-opens', ShardId: shard }, dimensionSets: [['StreamName', 'ShardId'], ['StreamName']], timestamp: 1_764_633_600_000 + 60_000 * i }));
      }
    }
    lines.splice(3, 0, 'not json at all');
    const html = render(`${lines.join('\n')}\n`, 'full');
    const page = readFileSync(html, 'utf8');

    // Act
    const dom = await dumpDom(html);

    // Assess
    assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href=/i, 'no external script or stylesheet: the library is inlined');
    assert.match(page, /uPlot/);
    assert.match(dom, /<body data-drawn="true">/, 'every chart drew');
    assert.match(dom, /30 metrics lines, 2 shard\(s\), 1 unreadable line\(s\) skipped/);
    assert.deepEqual(chartAttrs(dom, 'rate').points, 30);
    assert.deepEqual(chartAttrs(dom, 'lag').points, 30);
    assert.deepEqual(chartAttrs(dom, 'failures').points, 45, 'three failure series over 15 intervals');
    for (const id of ['rate', 'lag', 'failures']) assert.ok(chartAttrs(dom, id).painted > 100, `chart ${id} painted its data (${chartAttrs(dom, id).painted} pixels)`);
  });

  test('control: a file with no figures draws empty charts (nothing painted), so the pixel count means something', async () => {
    const html = render('', 'empty');
    const dom = await dumpDom(html);
    assert.match(dom, /<body data-drawn="true">/);
    for (const id of ['rate', 'lag', 'failures']) assert.deepEqual(chartAttrs(dom, id), { points: 0, painted: 0 });
  });
});
