/**
 * CRC-64-AVRO, the 64-bit Rabin fingerprint the Avro specification defines for schema
 * fingerprints ("Schema Fingerprints" in the spec), used by single-object encoding.
 *
 * Computed with BigInt: it runs once per schema (at registration), never per record.
 */

/** The fingerprint of zero bytes, and the polynomial the table is built from. */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;

const TABLE: readonly bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) {
      // (fp >>> 1) ^ (EMPTY & -(fp & 1)): xor in the polynomial when the low bit is set.
      fp = (fp >> 1n) ^ ((fp & 1n) === 1n ? EMPTY : 0n);
    }
    table.push(fp);
  }
  return table;
})();

/**
 * The CRC-64-AVRO fingerprint of some bytes, as an unsigned 64-bit BigInt (Java's
 * `SchemaNormalization.fingerprint64` returns the same bits as a signed long).
 */
export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const byte of bytes) {
    fp = ((fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(byte)) & 0xffn)] as bigint)) & MASK64;
  }
  return fp;
}
