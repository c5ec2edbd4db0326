/**
 * The KCL multilang protocol's messages, typed, and a strict parser for the daemon's lines.
 */
import { ProtocolError } from '../core/errors.js';
import type { KinesisRecord } from '../core/types.js';
import { scanProcessRecords, type ProcessRecordsMessage } from './scanProcessRecords.js';

// Declared beside its fast scanner (which must not import this module back), re-exported here
// with the other messages.
export type { ProcessRecordsMessage };

export interface InitializeMessage {
  action: 'initialize';
  shardId: string;
  sequenceNumber: string | null;
  subSequenceNumber: number | null;
}
/** The daemon's reply to a checkpoint request; `error` is the Java exception's simple name. */
export interface CheckpointReply {
  action: 'checkpoint';
  sequenceNumber: string | null;
  subSequenceNumber: number | null;
  error: string | null;
}
export interface LeaseLostMessage {
  action: 'leaseLost';
}
export interface ShardEndedMessage {
  action: 'shardEnded';
}
export interface ShutdownRequestedMessage {
  action: 'shutdownRequested';
}
/** KCL 1.x's shutdown, still understood: TERMINATE acts as shardEnded, ZOMBIE as leaseLost. */
export interface LegacyShutdownMessage {
  action: 'shutdown';
  reason: string;
}

/** Anything the daemon sends a worker. */
export type DaemonMessage =
  | InitializeMessage
  | ProcessRecordsMessage
  | CheckpointReply
  | LeaseLostMessage
  | ShardEndedMessage
  | ShutdownRequestedMessage
  | LegacyShutdownMessage;

/** The actions that must be answered with exactly one status. */
export type DaemonAction = Exclude<DaemonMessage, CheckpointReply>;

/** A worker's checkpoint request: `sequenceNumber` null means "everything delivered" (SHARD_END at shard end). */
export interface CheckpointRequest {
  action: 'checkpoint';
  sequenceNumber: string | null;
  subSequenceNumber: number | null;
}
/** A worker's answer to an action. */
export interface StatusMessage {
  action: 'status';
  responseFor: string;
}

const MAX_SHOWN = 120;

function fail(line: string, why: string): never {
  const shown = line.length > MAX_SHOWN ? `${line.slice(0, MAX_SHOWN)}...` : line;
  throw new ProtocolError(`malformed line from the daemon (${why}): ${shown}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalNumber(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

function parseRecord(line: string, r: unknown, i: number): KinesisRecord {
  if (!isObject(r)) fail(line, `records[${i}] is not an object`);
  const { data, partitionKey, sequenceNumber } = r;
  if (typeof data !== 'string') fail(line, `records[${i}].data is not a string`);
  if (typeof sequenceNumber !== 'string' || !/^\d+$/.test(sequenceNumber)) fail(line, `records[${i}].sequenceNumber is not a string of digits`);
  if (typeof partitionKey !== 'string') fail(line, `records[${i}].partitionKey is not a string`);
  const sub = optionalNumber(r.subSequenceNumber);
  const arrival = optionalNumber(r.approximateArrivalTimestamp);
  if (sub === undefined) fail(line, `records[${i}].subSequenceNumber is not a number`);
  if (arrival === undefined) fail(line, `records[${i}].approximateArrivalTimestamp is not a number`);
  return { data, partitionKey, sequenceNumber, subSequenceNumber: sub ?? 0, approximateArrivalTimestamp: arrival };
}

/**
 * Parses one line from the daemon. Returns null for a blank line (the protocol allows them);
 * throws {@link ProtocolError} naming what is wrong for anything else it cannot use.
 */
export function parseDaemonLine(line: string): DaemonMessage | null {
  if (line.trim() === '') return null;
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    fail(line, `not JSON: ${(err as Error).message}`);
  }
  if (!isObject(msg)) fail(line, 'not a JSON object');
  switch (msg.action) {
    case 'initialize': {
      if (typeof msg.shardId !== 'string' || msg.shardId === '') fail(line, 'initialize without a shardId');
      const seq = msg.sequenceNumber;
      if (seq !== null && seq !== undefined && typeof seq !== 'string') fail(line, 'sequenceNumber is not a string');
      const sub = optionalNumber(msg.subSequenceNumber);
      if (sub === undefined) fail(line, 'subSequenceNumber is not a number');
      return { action: 'initialize', shardId: msg.shardId, sequenceNumber: seq ?? null, subSequenceNumber: sub };
    }
    case 'processRecords': {
      if (!Array.isArray(msg.records)) fail(line, 'processRecords without a records array');
      const behind = optionalNumber(msg.millisBehindLatest);
      if (behind === undefined) fail(line, 'millisBehindLatest is not a number');
      const records = new Array<KinesisRecord>(msg.records.length);
      for (let i = 0; i < msg.records.length; i++) records[i] = parseRecord(line, msg.records[i], i);
      return { action: 'processRecords', millisBehindLatest: behind, records };
    }
    case 'checkpoint': {
      const seq = msg.sequenceNumber;
      if (seq !== null && seq !== undefined && typeof seq !== 'string') fail(line, 'sequenceNumber is not a string');
      const sub = optionalNumber(msg.subSequenceNumber);
      if (sub === undefined) fail(line, 'subSequenceNumber is not a number');
      const error = msg.error;
      if (error !== null && error !== undefined && typeof error !== 'string') fail(line, 'error is not a string');
      return { action: 'checkpoint', sequenceNumber: seq ?? null, subSequenceNumber: sub, error: error ?? null };
    }
    case 'leaseLost':
    case 'shardEnded':
    case 'shutdownRequested':
      return { action: msg.action };
    case 'shutdown':
      return { action: 'shutdown', reason: typeof msg.reason === 'string' ? msg.reason : 'TERMINATE' };
    default:
      return fail(line, `unknown action ${JSON.stringify(msg.action)}`);
  }
}

/**
 * {@link parseDaemonLine} for a line given as its UTF-8 bytes: a processRecords line in the
 * daemon's plain shape is read straight from the bytes (`scanProcessRecords`), anything else is
 * decoded and parsed by `parseDaemonLine`, so the result and the errors are the same.
 */
export function parseDaemonLineBytes(line: Buffer): DaemonMessage | null {
  return scanProcessRecords(line) ?? parseDaemonLine(line.toString('utf8'));
}
