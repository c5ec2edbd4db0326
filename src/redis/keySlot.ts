/**
 * Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, modulo 16384.
 */

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

/**
 * Number of hash slots in a Redis Cluster.
 */
export const SLOT_COUNT = 16384;

/**
 * The cluster hash slot of a key (UTF-8 bytes, hash tags honoured), as Redis computes it.
 */
export function keySlot(key: string): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) {
      crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ c) & 0xff] ?? 0)) & 0xffff;
    } else {
      // Rare for our keys: fall back to the exact UTF-8 bytes of the rest of the hashed part.
      for (const byte of Buffer.from(key.slice(i, end), 'utf8')) {
        crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0)) & 0xffff;
      }
      break;
    }
  }
  return crc % SLOT_COUNT;
}

/**
 * Items grouped by the cluster hash slot of their key as `client` sends it (after its
 * `keyPrefix`, the key Redis sees), in first-seen order: a script call may only touch keys of one
 * slot.
 */
export function groupByKeySlot<E>(items: Iterable<E>, keyOf: (item: E) => string, client: { options: { keyPrefix?: string } }): E[][] {
  const prefix = client.options.keyPrefix ?? '';
  const bySlot = new Map<number, E[]>();
  for (const item of items) {
    const slot = keySlot(prefix + keyOf(item));
    const group = bySlot.get(slot);
    if (group) group.push(item);
    else bySlot.set(slot, [item]);
  }
  return [...bySlot.values()];
}
