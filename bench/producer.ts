/**
 * Producer benchmark, all in one run against one kinesalite:
 *   1. one-by-one: one PutRecord call per event, each awaited before the next (what the talk's
 *      team started with);
 *   2. ceiling:    raw PutRecords calls of 500 pre-built records, no producer, `--in-flight` calls
 *      at a time (the stand-in's own ceiling for the same client and concurrency);
 *   3. producer:   every event through BatchProducer.add (defaults, whenFull 'wait'), then flush.
 * Each is run `--runs` times, each on a fresh stream; the ceiling and the producer run back to back
 * (alternating which goes first) so that both see the same background load, and the median of
 * those paired ratios is printed beside the ratio of the medians. Client CPU per 1,000 events
 * (this process only, user + system) shows the producer's own cost independently of the load.
 * kinesalite runs in a child process so that it does not share the measured event loop (a real
 * Kinesis is remote). Prints a table, then one JSON line.
 *
 * Usage: node --import tsx bench/producer.ts [--runs 9] [--events 20000] [--one-by-one-events 1500] [--shards 4] [--in-flight 4]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { cpus, loadavg } from 'node:os';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  PutRecordCommand,
  PutRecordsCommand,
  type KinesisClient,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { sdkNodeNotice } from '../src/config/nodeSupport.js';
import { BatchProducer, createKinesisClient } from '../src/producer/index.js';
import { startKinesaliteProcess } from './kinesaliteProcess.js';

sdkNodeNotice(); // no SDK Node-version warning in the figures' output (README states it)

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    events: { type: 'string', default: '20000' },
    'one-by-one-events': { type: 'string', default: '1500' },
    shards: { type: 'string', default: '4' },
    'in-flight': { type: 'string', default: '4' },
  },
});
const RUNS = Number(args.runs);
const EVENTS = Number(args.events);
const ONE_BY_ONE_EVENTS = Number(args['one-by-one-events']);
const SHARDS = Number(args.shards);
const IN_FLIGHT = Number(args['in-flight']);
const PAYLOAD_BYTES = 40; // about one Avro-encoded AppOpen

let streamCounter = 0;
async function freshStream(client: KinesisClient): Promise<string> {
  const name = `bench-${process.pid}-${++streamCounter}`;
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: SHARDS }));
  for (let i = 0; i < 500; i++) {
    const d = await client.send(new DescribeStreamCommand({ StreamName: name }));
    if (d.StreamDescription?.StreamStatus === 'ACTIVE') return name;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`stream ${name} not ACTIVE`);
}

interface Event {
  data: Buffer;
  key: string;
}
function makeEvents(n: number): Event[] {
  return Array.from({ length: n }, () => ({ data: randomBytes(PAYLOAD_BYTES), key: String(1 + Math.floor(Math.random() * 1e12)) }));
}

interface Measured {
  eventsPerSec: number;
  /** Client CPU (user + system) per 1,000 events, in ms. */
  cpuMsPer1k: number;
}

async function timed(n: number, body: () => Promise<void>): Promise<Measured> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await body();
  const c = process.cpuUsage(c0);
  return { eventsPerSec: n / ((performance.now() - t0) / 1000), cpuMsPer1k: (c.user + c.system) / 1000 / (n / 1000) };
}

async function oneByOne(client: KinesisClient, events: Event[]): Promise<Measured> {
  const stream = await freshStream(client);
  return timed(events.length, async () => {
    for (const e of events) await client.send(new PutRecordCommand({ StreamName: stream, Data: e.data, PartitionKey: e.key }));
  });
}

async function rawCeiling(client: KinesisClient, events: Event[]): Promise<Measured> {
  const stream = await freshStream(client);
  const batches: PutRecordsRequestEntry[][] = [];
  for (let i = 0; i < events.length; i += 500) batches.push(events.slice(i, i + 500).map((e) => ({ Data: e.data, PartitionKey: e.key })));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const Records = batches[next++]!;
      const out = await client.send(new PutRecordsCommand({ StreamName: stream, Records }));
      if (out.FailedRecordCount) throw new Error(`raw PutRecords: ${out.FailedRecordCount} records failed`);
    }
  };
  return timed(events.length, async () => {
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  });
}

async function throughProducer(client: KinesisClient, events: Event[]): Promise<Measured> {
  const stream = await freshStream(client);
  let dropped = 0;
  const producer = new BatchProducer({ client, streamName: stream, maxInFlight: IN_FLIGHT, whenFull: 'wait', onDropped: () => dropped++ });
  producer.start();
  let result = { sent: 0, dropped: 0, remaining: -1 };
  const m = await timed(events.length, async () => {
    for (const e of events) await producer.add(e.data, e.key);
    result = await producer.flush(120_000);
  });
  await producer.stop(1_000);
  if (result.remaining !== 0 || dropped !== 0 || producer.stats().sent !== events.length) {
    throw new Error(`producer run incomplete: ${JSON.stringify(result)}, dropped ${dropped}`);
  }
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { endpoint, child } = await startKinesaliteProcess();
  const client = createKinesisClient({ endpoint, region: 'us-east-1' });
  try {
    const events = makeEvents(EVENTS);
    const few = makeEvents(ONE_BY_ONE_EVENTS);
    // Warm-up (JIT, sockets), not measured.
    await rawCeiling(client, events.slice(0, 5_000));
    await throughProducer(client, events.slice(0, 5_000));
    await oneByOne(client, few.slice(0, 200));
    const r = { oneByOne: [] as Measured[], ceiling: [] as Measured[], producer: [] as Measured[] };
    const pairRatios: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      let c: Measured;
      let p: Measured;
      if (run % 2 === 0) {
        c = await rawCeiling(client, events);
        p = await throughProducer(client, events);
      } else {
        p = await throughProducer(client, events);
        c = await rawCeiling(client, events);
      }
      const o = await oneByOne(client, few);
      r.ceiling.push(c);
      r.producer.push(p);
      r.oneByOne.push(o);
      pairRatios.push(p.eventsPerSec / c.eventsPerSec);
      process.stderr.write(
        `run ${run + 1}/${RUNS}: ceiling ${c.eventsPerSec.toFixed(0)}, producer ${p.eventsPerSec.toFixed(0)} (${((100 * p.eventsPerSec) / c.eventsPerSec).toFixed(0)}%), one-by-one ${o.eventsPerSec.toFixed(0)} events/s\n`,
      );
    }
    const rate = (xs: Measured[]): number[] => xs.map((x) => x.eventsPerSec);
    const cpu = (xs: Measured[]): number => median(xs.map((x) => x.cpuMsPer1k));
    const m = { oneByOne: median(rate(r.oneByOne)), ceiling: median(rate(r.ceiling)), producer: median(rate(r.producer)) };
    const pairedOfCeiling = median(pairRatios);
    const ofCeiling = m.producer / m.ceiling;
    const speedup = m.producer / m.oneByOne;
    const row = (name: string, xs: Measured[], med: number): string =>
      `| ${name.padEnd(46)} | ${med.toFixed(0).padStart(7)} | ${cpu(xs).toFixed(1).padStart(9)} | ${rate(xs).map((x) => x.toFixed(0)).join(', ')} |`;
    process.stdout.write(
      [
        `kinesalite (child process), ${SHARDS} shards, ${PAYLOAD_BYTES}-byte events, ${RUNS} runs, medians in events/s; ` +
          `${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
        `| what                                           |  median | client CPU ms / 1k events | runs (events/s) |`,
        `|------------------------------------------------|--------:|----------:|------|`,
        row(`one PutRecord per event (${ONE_BY_ONE_EVENTS} events, serial)`, r.oneByOne, m.oneByOne),
        row(`raw 500-record PutRecords (${EVENTS}, ${IN_FLIGHT} in flight)`, r.ceiling, m.ceiling),
        row(`BatchProducer (${EVENTS} events, defaults)`, r.producer, m.producer),
        `producer / ceiling = ${(ofCeiling * 100).toFixed(1)}% of the medians, ${(pairedOfCeiling * 100).toFixed(1)}% median of back-to-back pairs (target >= 90%); ` +
          `producer / one-by-one = ${speedup.toFixed(1)}x (target >= 12x)`,
        '',
      ].join('\n'),
    );
    const pass = ofCeiling >= 0.9 && speedup >= 12;
    process.stdout.write(
      JSON.stringify({
        bench: 'producer',
        runs: RUNS,
        events: EVENTS,
        shards: SHARDS,
        inFlight: IN_FLIGHT,
        oneByOneEventsPerSec: Math.round(m.oneByOne),
        ceilingEventsPerSec: Math.round(m.ceiling),
        producerEventsPerSec: Math.round(m.producer),
        producerOfCeiling: Number(ofCeiling.toFixed(3)),
        producerOfCeilingPaired: Number(pairedOfCeiling.toFixed(3)),
        cpuMsPer1k: { oneByOne: Number(cpu(r.oneByOne).toFixed(2)), ceiling: Number(cpu(r.ceiling).toFixed(2)), producer: Number(cpu(r.producer).toFixed(2)) },
        producerVsOneByOne: Number(speedup.toFixed(1)),
        cpus: cpus().length,
        loadAvg1m: Number(loadavg()[0]!.toFixed(2)),
        pass,
      }) + '\n',
    );
    if (!pass) process.exitCode = 1;
  } finally {
    client.destroy();
    child.kill();
  }
}

await main();
