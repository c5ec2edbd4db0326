/* global process, Buffer */
// The baseline: bin/lastopens written the way the aws-kcl sample processor is written today.
// One `await redis.hset(...)` per record, a checkpoint per batch, aws-kcl's callback API.
// Same decoding as the real worker (the project's fromAvro + validate); poison records are logged
// and skipped, as a sample would. Used by bench/worker.ts only.
//
// Environment: RESULTS_REDIS_URL (mandatory).
import kcl from 'aws-kcl';
import { Redis } from 'ioredis';
import { fromAvro, validate } from '../dist/app-opens/model/index.js';

const redis = new Redis(process.env.RESULTS_REDIS_URL);

const processor = {
  initialize(input, completeCallback) {
    completeCallback();
  },

  processRecords(input, completeCallback) {
    const records = input.records ?? [];
    (async () => {
      let last;
      for (const record of records) {
        last = record.sequenceNumber;
        let event;
        try {
          event = fromAvro(Buffer.from(record.data, 'base64'));
          validate(event);
        } catch (err) {
          process.stderr.write(`skipping record ${record.sequenceNumber}: ${err.message}\n`);
          continue;
        }
        await redis.hset(`user:${event.userId}:checkpoint`, `${event.platform}_app_open`, String(event.timestamp));
      }
      if (last === undefined) {
        completeCallback();
        return;
      }
      input.checkpointer.checkpoint(last, (err) => {
        if (err) process.stderr.write(`checkpoint failed: ${err}\n`);
        completeCallback();
      });
    })().catch((err) => {
      process.stderr.write(`processRecords failed: ${err.stack}\n`);
      process.exit(1);
    });
  },

  leaseLost(input, completeCallback) {
    completeCallback();
  },

  shardEnded(input, completeCallback) {
    input.checkpointer.checkpoint((err) => {
      if (err) process.stderr.write(`checkpoint failed: ${err}\n`);
      completeCallback();
    });
  },

  shutdownRequested(input, completeCallback) {
    input.checkpointer.checkpoint((err) => {
      if (err) process.stderr.write(`checkpoint failed: ${err}\n`);
      completeCallback();
    });
  },
};

process.stdin.on('end', () => {
  redis.disconnect();
  process.exit(0);
});
kcl(processor).run();
