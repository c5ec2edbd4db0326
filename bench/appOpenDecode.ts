/**
 * Rough throughput of the AppOpen codec on one core: fromAvro + validate on typical records,
 * then the same behind what the worker does first (JSON.parse of a protocol line, base64), and
 * toAvro for the producer side.
 * Run: node --import tsx bench/appOpenDecode.ts [seconds-per-case]
 */
import { randomUUID } from 'node:crypto';
import { appOpenDecoder, fromAvro, toAvro, validate } from '../src/app-opens/model/index.js';
import type { KinesisRecord } from '../src/core/types.js';
import type { AppOpen } from '../src/app-opens/model/index.js';

const seconds = Number(process.argv[2] ?? 2);
const now = Math.floor(Date.now() / 1000);
const platforms = ['ios', 'android', 'web', 'android_tv'];
const encoded: Buffer[] = [];
for (let i = 0; i < 1024; i++) {
  encoded.push(
    toAvro({
      timestamp: now - (i % 3600),
      userId: 10_000_000n + BigInt(i * 7919),
      platform: platforms[i % platforms.length] as string,
      appVersion: i % 5 === 0 ? null : `7.${i % 20}.${i % 7}`,
      deviceId: i % 3 === 0 ? null : randomUUID(),
    }),
  );
}
const lines = encoded.map((b, i) =>
  JSON.stringify({ action: 'processRecords', records: [{ data: b.toString('base64'), partitionKey: String(i), sequenceNumber: `4959${i}`.padEnd(56, '7'), subSequenceNumber: 0, approximateArrivalTimestamp: Date.now() }] }),
);
// processRecords as the daemon sends it: many records per line (here 100).
const batchLines: string[] = [];
for (let k = 0; k < 1024; k += 100) {
  const records = encoded.slice(k, k + 100).map((b, i) => ({ data: b.toString('base64'), partitionKey: String(i), sequenceNumber: `4959${k + i}`.padEnd(56, '7'), subSequenceNumber: 0, approximateArrivalTimestamp: Date.now() }));
  if (records.length === 100) batchLines.push(JSON.stringify({ action: 'processRecords', records }));
}
const record: KinesisRecord = { data: '', partitionKey: 'k', sequenceNumber: '1', subSequenceNumber: 0, approximateArrivalTimestamp: null };

/**
 * Runs `body` for about `seconds` of wall time and reports records per second of wall time and
 * per second of this process's CPU time (the second is steadier on a shared, busy machine).
 */
function run(name: string, body: (i: number) => unknown): void {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) if (body(i) !== undefined) sink++; // warm up
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let j = 0; j < 10_000; j++, n++) if (body(n) !== undefined) sink++;
  }
  const cpu = process.cpuUsage(cpuStart);
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const rate = (x: number): string => Math.round(n / x).toLocaleString('en-US').padStart(11);
  process.stdout.write(`${name.padEnd(40)} ${rate(wall)}/s wall ${rate(cpuSeconds)}/s CPU${sink > 0 ? '' : ' (no output?)'}\n`);
}

run('fromAvro', (i) => fromAvro(encoded[i & 1023] as Buffer));
run('fromAvro + validate', (i) => {
  const e = fromAvro(encoded[i & 1023] as Buffer);
  validate(e);
  return e;
});
run('appOpenDecoder', (i) => appOpenDecoder(encoded[i & 1023] as Buffer, record));
const events = encoded.map((b) => fromAvro(b));
run('toAvro', (i) => toAvro(events[i & 1023] as AppOpen));
run('JSON.parse + base64 only', (i) => {
  const msg = JSON.parse(lines[i & 1023] as string) as { records: Array<{ data: string }> };
  return Buffer.from((msg.records[0] as { data: string }).data, 'base64');
});
run('JSON.parse + base64 + appOpenDecoder', (i) => {
  const msg = JSON.parse(lines[i & 1023] as string) as { records: Array<{ data: string }> };
  return appOpenDecoder(Buffer.from((msg.records[0] as { data: string }).data, 'base64'), record);
});

// Per record, amortised over a 100-record line: parse the line once per 100 records.
let batch: Array<{ data: string }> = [];
run('batched line (100): JSON + base64 + decoder', (i) => {
  const k = i % 100;
  if (k === 0) batch = (JSON.parse(batchLines[(i / 100) % batchLines.length | 0] as string) as { records: Array<{ data: string }> }).records;
  return appOpenDecoder(Buffer.from((batch[k] as { data: string }).data, 'base64'), record);
});
