/**
 * Unit tests of the checkpoint error table: how many attempts each reply of the daemon gets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CHECKPOINT_ERRORS, checkpointAttemptsFor, classifyCheckpointError } from '../../src/kcl/checkpointErrors.js';
import { RETRIABLE, classifyError, registerErrorRules, tableRule } from '../../src/core/errors.js';

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

  test('classifications name the rule, and the domain is the checkpoint one only', () => {
    assert.deepEqual(classifyCheckpointError('InvalidStateException'), { retriable: true, maxAttempts: 3, rule: 'checkpoint error InvalidStateException' });
    assert.deepEqual(classifyCheckpointError('ShutdownException'), { retriable: false, rule: undefined });
    assert.deepEqual(classifyError({ name: 'ThrottlingException' }, CHECKPOINT_ERRORS), { retriable: true, rule: 'checkpoint error ThrottlingException' });
    assert.equal(classifyError({ name: 'IllegalArgumentException' }).retriable, true, 'the generic domain is not the checkpoint one');
  });

  test('a rule registered in the checkpoint domain changes the attempts', () => {
    const remove = registerErrorRules(CHECKPOINT_ERRORS, [tableRule('app', (e) => (typeof e === 'string' ? e : undefined), { IllegalArgumentException: { ...RETRIABLE, maxAttempts: 2 } })]);
    try {
      assert.equal(checkpointAttemptsFor('IllegalArgumentException', 10), 2);
    } finally {
      remove();
    }
    assert.equal(checkpointAttemptsFor('IllegalArgumentException', 10), 1);
  });
});
