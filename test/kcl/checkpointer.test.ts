/**
 * The checkpointer's states (src/kcl/checkpointer.ts) in-process: its `send` is answered by the
 * test the way the daemon answers (a reply line per request). The same behaviour over real pipes
 * is in worker.test.ts and guarantees/checkpoints.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Instrumentation } from '../../src/kcl/events.js';
import { resolveRetryOptions } from '../../src/core/retry.js';
import type { Logger } from '../../src/core/types.js';
import { Checkpointer } from '../../src/kcl/checkpointer.js';
import type { CheckpointRequest } from '../../src/kcl/messages.js';

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

/** A checkpointer whose requests are answered by `answer` (the daemon's error name, or null). */
function setUp(answer: (request: CheckpointRequest, index: number) => string | null, maxAttempts = 10) {
  const sent: CheckpointRequest[] = [];
  const events: Array<{ sequenceNumber: string; error: string | null; attempt: number }> = [];
  const instrumentation = new Instrumentation();
  instrumentation.on('checkpoint', (e) => events.push({ sequenceNumber: e.sequenceNumber, error: e.error, attempt: e.attempt }));
  const abort = new AbortController();
  const checkpointer: Checkpointer = new Checkpointer({
    send: async (request) => {
      const index = sent.push(request) - 1;
      const error = answer(request, index);
      // The reply arrives later, as a line from the daemon would.
      setImmediate(() => checkpointer.reply({ action: 'checkpoint', sequenceNumber: request.sequenceNumber, subSequenceNumber: request.subSequenceNumber, error }));
    },
    retry: resolveRetryOptions({ initialDelayMs: 1, maxDelayMs: 2, maxAttempts }),
    signal: abort.signal,
    instrumentation,
    logger: () => silent,
    shardId: () => 'shardId-000000000001',
  });
  return { checkpointer, sent, events, abort };
}

const at = (sequenceNumber: string, subSequenceNumber = 0) => ({ sequenceNumber, subSequenceNumber });

describe('Checkpointer', () => {
  test('CURRENT sends nothing; PENDING is sent once and becomes CURRENT; the resumed position counts as confirmed', async () => {
    const { checkpointer, sent } = setUp(() => null);
    await checkpointer.checkpointHandled();
    assert.equal(sent.length, 0, 'nothing handled yet');
    checkpointer.resumedAt(at('100'));
    checkpointer.handled(at('100'));
    await checkpointer.checkpointHandled();
    assert.equal(sent.length, 0, 'the position initialize resumed from is not sent again');
    checkpointer.handled(at('200', 3));
    await checkpointer.checkpointHandled();
    await checkpointer.checkpointHandled();
    assert.deepEqual(sent, [{ action: 'checkpoint', sequenceNumber: '200', subSequenceNumber: 3 }]);
    assert.deepEqual(checkpointer.positions, { lastHandled: at('200', 3), lastCheckpointed: at('200', 3) });
  });

  test('a refusal for good leaves the position PENDING: the next call sends it again', async () => {
    let refuse = true;
    const { checkpointer, sent } = setUp(() => (refuse ? 'IllegalArgumentException' : null));
    checkpointer.handled(at('300'));
    await checkpointer.checkpointHandled();
    assert.equal(sent.length, 1, 'an unknown error gets one attempt');
    assert.equal(checkpointer.positions.lastCheckpointed, null);
    refuse = false;
    await checkpointer.checkpointHandled();
    assert.equal(sent.length, 2);
    assert.deepEqual(checkpointer.positions.lastCheckpointed, at('300'));
  });

  test('each error has its own attempt limit: InvalidStateException 3 even when maxAttempts is 2; ThrottlingException maxAttempts', async () => {
    const invalid = setUp(() => 'InvalidStateException', 2);
    invalid.checkpointer.handled(at('1'));
    await invalid.checkpointer.checkpointHandled();
    assert.deepEqual(invalid.events.map((e) => e.attempt), [1, 2, 3]);
    const throttled = setUp(() => 'ThrottlingException', 4);
    throttled.checkpointer.handled(at('1'));
    await throttled.checkpointer.checkpointHandled();
    assert.deepEqual(throttled.events.map((e) => [e.error, e.attempt]), [1, 2, 3, 4].map((n) => ['ThrottlingException', n]));
  });

  test('ShutdownException and stop() are STOPPED: no handled position is sent again; SHARD_END still is when asked', async () => {
    const { checkpointer, sent } = setUp((_r, i) => (i === 0 ? 'ShutdownException' : null));
    checkpointer.handled(at('1'));
    await checkpointer.checkpointHandled();
    checkpointer.handled(at('2'));
    await checkpointer.checkpointHandled();
    assert.equal(sent.length, 1);
    assert.equal(await checkpointer.checkpointShardEnd(), true);
    assert.deepEqual(sent[1], { action: 'checkpoint', sequenceNumber: null, subSequenceNumber: null });

    const lost = setUp(() => null);
    lost.checkpointer.handled(at('5'));
    lost.checkpointer.stop();
    await lost.checkpointer.checkpointHandled();
    assert.equal(lost.sent.length, 0);
  });

  test('close(): the request in flight and every later one reject with AbortedError', async () => {
    const sent: CheckpointRequest[] = [];
    const checkpointer = new Checkpointer({
      send: async (r) => void sent.push(r), // the daemon never answers
      retry: resolveRetryOptions({}),
      signal: new AbortController().signal,
      instrumentation: new Instrumentation(),
      logger: () => silent,
      shardId: () => 'shardId-000000000001',
    });
    checkpointer.handled(at('9'));
    const inFlight = checkpointer.checkpointHandled();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sent.length, 1);
    checkpointer.close();
    await assert.rejects(inFlight, { name: 'AbortedError' });
    await assert.rejects(checkpointer.checkpointShardEnd(), { name: 'AbortedError' });
    assert.equal(sent.length, 1, 'nothing sent after close');
  });

  test('the worker stopping cuts a retry wait short, but a due checkpoint is still sent once', async () => {
    const { checkpointer, sent, abort } = setUp(() => 'ThrottlingException');
    abort.abort();
    checkpointer.handled(at('7'));
    await assert.rejects(checkpointer.checkpointHandled(), { name: 'AbortedError' });
    assert.equal(sent.length, 1, 'sent once, not retried');
  });
});
