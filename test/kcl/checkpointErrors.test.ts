/**
 * Unit tests of the checkpoint error table: how many attempts each reply of the daemon gets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointAttemptsFor, classifyCheckpointError } from '../../src/kcl/checkpointErrors.js';
import { classifyError, type ErrorClassification } from '../../src/core/errors.js';

describe('checkpoint errors', () => {
  test('throttling and dependency failures get the checkpointer limit; InvalidStateException 3; anything else 1', () => {
    for (const max of [1, 2, 10]) {
      assert.equal(checkpointAttemptsFor('ThrottlingException', max), max);
      assert.equal(checkpointAttemptsFor('KinesisClientLibDependencyException', max), max);
      assert.equal(checkpointAttemptsFor('InvalidStateException', max), 3, 'whatever the checkpointer limit');
    }
    for (const other of ['ShutdownException', 'IllegalArgumentException', 'Exception', '', 'toString', 'constructor']) {
      assert.equal(checkpointAttemptsFor(other, 10), 1, other);
    }
  });

  test('classifications name the rule, and the table is the checkpoint one only', () => {
    assert.deepEqual(classifyCheckpointError('InvalidStateException'), { retriable: true, maxAttempts: 3, rule: 'checkpoint error InvalidStateException' });
    assert.deepEqual(classifyCheckpointError('ShutdownException'), { retriable: false, rule: undefined });
    assert.deepEqual(classifyCheckpointError({ name: 'ThrottlingException' }), { retriable: true, rule: 'checkpoint error ThrottlingException' });
    assert.equal(classifyError({ name: 'IllegalArgumentException' }).retriable, true, 'the generic rules are not the checkpoint ones');
  });

  test('a classify function passed to checkpointAttemptsFor changes the attempts there only', () => {
    const app = (e: unknown): ErrorClassification =>
      e === 'IllegalArgumentException' ? { retriable: true, maxAttempts: 2, rule: 'app IllegalArgumentException' } : classifyCheckpointError(e);
    assert.equal(checkpointAttemptsFor('IllegalArgumentException', 10, app), 2);
    assert.equal(checkpointAttemptsFor('ThrottlingException', 10, app), 10);
    assert.equal(checkpointAttemptsFor('IllegalArgumentException', 10), 1);
  });
});
