/**
 * Renders a metrics file (the EMF lines bin/lastopens writes to METRICS_PATH) as one static HTML
 * page with three charts over time: rate (RecordsPerSecond per shard), lag (MillisBehindLatestMax
 * per shard) and failures (ProcessingFailures, RecordsDeadLettered, CheckpointFailures, all shards).
 * The chart library (uPlot, from npm) is inlined into the page: it opens from disk with no network.
 *
 *   node --import tsx scripts/metrics-dashboard.ts METRICS_FILE [OUT.html]   (make dashboard)
 *
 * Lines that are not EMF documents are skipped and counted. After drawing, the page sets
 * data-drawn="true" on <body> and, on each chart, data-points (values plotted) and
 * data-painted (non-blank pixels in the plot area), so a test can tell that it really drew.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** One chart: a title, a unit and its series (name -> value per x, null where absent). */
interface Chart {
  id: string;
  title: string;
  unit: string;
  series: Array<{ name: string; values: Array<number | null> }>;
}

/** What the page shows, built from the metrics lines. */
export interface DashboardData {
  /** Seconds since the epoch, ascending. */
  x: number[];
  charts: Chart[];
  lines: number;
  skipped: number;
  shards: string[];
}

/** Reads EMF lines into the dashboard's series (one x per distinct timestamp). */
export function dashboardData(text: string): DashboardData {
  const docs: Array<Record<string, unknown> & { t: number; shard: string }> = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const d = JSON.parse(line) as Record<string, unknown> & { _aws?: { Timestamp?: unknown } };
      const t = d._aws?.Timestamp;
      if (typeof t !== 'number') throw new Error('no _aws.Timestamp');
      docs.push({ ...d, t: Math.round(t) / 1000, shard: String(d.ShardId ?? d.FunctionName ?? 'all') });
    } catch {
      skipped++;
    }
  }
  docs.sort((a, b) => a.t - b.t);
  const x = [...new Set(docs.map((d) => d.t))];
  const index = new Map(x.map((t, i) => [t, i]));
  const shards = [...new Set(docs.map((d) => d.shard))].sort();
  const perShard = (metric: string): Chart['series'] =>
    shards.map((shard) => {
      const values = new Array<number | null>(x.length).fill(null);
      for (const d of docs) if (d.shard === shard && typeof d[metric] === 'number') values[index.get(d.t)!] = d[metric] as number;
      return { name: shard, values };
    });
  const summed = (metric: string): Chart['series'][number] => {
    const values = new Array<number | null>(x.length).fill(null);
    for (const d of docs) {
      if (typeof d[metric] !== 'number') continue;
      const i = index.get(d.t)!;
      values[i] = (values[i] ?? 0) + (d[metric] as number);
    }
    return { name: metric, values };
  };
  return {
    x,
    lines: docs.length,
    skipped,
    shards,
    charts: [
      { id: 'rate', title: 'Rate: records per second, per shard', unit: 'records/s', series: perShard('RecordsPerSecond') },
      { id: 'lag', title: 'Lag: MillisBehindLatest (max per interval), per shard', unit: 'ms', series: perShard('MillisBehindLatestMax') },
      { id: 'failures', title: 'Failures per interval, all shards', unit: 'count', series: ['ProcessingFailures', 'RecordsDeadLettered', 'CheckpointFailures'].map(summed) },
    ],
  };
}

/** The uPlot script and stylesheet from node_modules, to inline. */
function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  return { js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8') };
}

/** `</script>` (or `<!--`) inside inlined text would end the script element early. */
const inlineSafe = (s: string): string => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/** The whole page, self-contained. */
export function dashboardHtml(data: DashboardData, title = 'Kinesis worker metrics'): string {
  const { js, css } = uplotAssets();
  const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<style>${css}
body{font:14px system-ui,sans-serif;margin:16px;color:#222}h1{font-size:18px}h2{font-size:15px;margin:18px 0 4px}.meta{color:#666}</style>
</head><body data-drawn="false">
<h1>${esc(title)}</h1>
<p class="meta">${data.lines} metrics lines, ${data.shards.length} shard(s)${data.skipped ? `, ${data.skipped} unreadable line(s) skipped` : ''}; ${
    data.x.length ? `${new Date(data.x[0]! * 1000).toISOString()} to ${new Date(data.x.at(-1)! * 1000).toISOString()}` : 'no data'
  }</p>
${data.charts.map((c) => `<h2>${esc(c.title)}</h2><div class="chart" id="${c.id}"></div>`).join('\n')}
<script>${inlineSafe(js)}</script>
<script>
const DATA = ${inlineSafe(JSON.stringify(data))};
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
function painted(u) {
  // Non-blank pixels inside the plotting area (axes excluded): proof that something was drawn.
  const { left, top, width, height } = u.bbox;
  if (width < 1 || height < 1) return 0;
  const px = u.ctx.getImageData(left, top, width, height).data;
  let n = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
  return n;
}
const drawn = new Set();
for (const c of DATA.charts) {
  const el = document.getElementById(c.id);
  const opts = {
    width: Math.max(600, Math.min(1200, window.innerWidth - 40)),
    height: 240,
    scales: { x: { time: true } },
    series: [{}].concat(c.series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: true, size: 5 } }))),
    // No grid lines: then every painted pixel in the plot area is data.
    axes: [{ grid: { show: false } }, { label: c.unit, grid: { show: false } }],
    hooks: {
      draw: [(u) => {
        el.dataset.points = String(c.series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0));
        el.dataset.painted = String(painted(u));
        drawn.add(c.id);
        if (drawn.size === DATA.charts.length) document.body.dataset.drawn = 'true';
      }],
    },
  };
  new uPlot(opts, [DATA.x].concat(c.series.map((s) => s.values)), el);
}
</script>
</body></html>
`;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const [input, output = 'metrics-dashboard.html'] = process.argv.slice(2);
  if (!input) {
    process.stderr.write('usage: metrics-dashboard.ts METRICS_FILE [OUT.html]\n');
    process.exit(2);
  }
  let text: string;
  try {
    text = readFileSync(input, 'utf8');
  } catch (err) {
    process.stderr.write(`metrics-dashboard: cannot read ${input}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const data = dashboardData(text);
  writeFileSync(output, dashboardHtml(data));
  process.stdout.write(`${output}: ${data.lines} lines, ${data.shards.length} shard(s), ${data.skipped} skipped\n`);
}
