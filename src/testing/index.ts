/**
 * Test helpers: a stand-in for the KCL daemon that drives real worker processes, and record
 * factories. Import from `kinesis-streams/testing`.
 */
export { TestDaemon } from './testDaemon.js';
export type { ActionResult, CheckpointResponder, ExitInfo, ObservedCheckpoint, PreparedProcessRecords, TestDaemonOptions } from './testDaemon.js';
export { makeRecords, sequenceNumber } from './records.js';
