/**
 * Keys the recordLastOpenMax script reported as holding something other than a hash (WRONGTYPE),
 * turned into rejections of the events that wrote them: shared by both write paths of
 * recordLastOpens (the generic one and the RESP bytes one) and by recordLastOpen.
 */
import { NonRetriableError } from '../../core/errors.js';
import { validationError, type AppOpen } from '../model/index.js';
import { lastOpenKey } from './lastOpenKey.js';
import type { RecordLastOpensResult } from './recordLastOpen.js';

/**
 * The error of an event whose key holds something other than a hash (the script's bad keys).
 */
export function wrongType(key: string, what: string): NonRetriableError {
  return new NonRetriableError(`redis ${what} failed: WRONGTYPE ${key} holds a value that is not a hash`);
}

/**
 * Rare: a key held something other than a hash (WRONGTYPE). Every valid event that wrote such a
 * key is rejected, by index, and `rejected` is left sorted by index. `nowSeconds` is the clock
 * reading the batch was validated with, so an event is never rejected twice.
 */
export function rejectWrongTypeEvents(
  events: readonly AppOpen[],
  badKeys: ReadonlySet<string>,
  rejected: RecordLastOpensResult['rejected'],
  nowSeconds: number,
): void {
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as AppOpen;
    if (typeof e.userId !== 'bigint') continue;
    const key = lastOpenKey(e.userId);
    if (badKeys.has(key) && validationError(e, nowSeconds) === undefined) rejected.push({ index: i, error: wrongType(key, 'recordLastOpens') });
  }
  rejected.sort((a, b) => a.index - b.index);
}
