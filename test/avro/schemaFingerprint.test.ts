import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc64Avro } from '../../src/avro/crc64Avro.js';
import { canonicalFormOf, fingerprintOf, formatFingerprint } from '../../src/avro/schemaFingerprint.js';
import { APP_OPEN_SCHEMA_V1, APP_OPEN_V1_FINGERPRINT } from '../../src/app-opens/model/index.js';

// Vectors from the Avro project's share/test/data/schema-tests.txt (validated there by Java's
// direct implementation of the algorithm): input schema, Parsing Canonical Form, fingerprint as
// Java's signed long. (Vector 016, the empty union, is left out: avsc refuses empty unions.)
const SPEC_VECTORS: ReadonlyArray<[string, string, bigint | null]> = [
  ['"null"', '"null"', 7195948357588979594n],
  ['{"type":"null"}', '"null"', null],
  ['"boolean"', '"boolean"', -6970731678124411036n],
  ['"int"', '"int"', 8247732601305521295n],
  ['{"type":"int"}', '"int"', null],
  ['"long"', '"long"', -3434872931120570953n],
  ['"float"', '"float"', 5583340709985441680n],
  ['"double"', '"double"', -8181574048448539266n],
  ['"bytes"', '"bytes"', 5746618253357095269n],
  ['"string"', '"string"', -8142146995180207161n],
  ['[ "int"  ]', '["int"]', -5232228896498058493n],
  ['[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090n],
  ['{"fields":[], "type":"record", "name":"foo"}', '{"name":"foo","type":"record","fields":[]}', -4824392279771201922n],
  ['{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}', '{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771n],
  ['{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}', '{"name":"a.b.foo","type":"record","fields":[]}', -4616218487480524110n],
  ['{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}', '{"name":"foo","type":"record","fields":[]}', -4824392279771201922n],
  ['{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}', '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651n],
  [
    '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true}, {"order":"descending","name":"f2","doc":"Hello","type":"int"}], "type":"record", "name":"foo"}',
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    -4860222112080293046n,
  ],
  ['{"type":"enum", "name":"foo", "symbols":["A1"]}', '{"name":"foo","type":"enum","symbols":["A1"]}', -6342190197741309591n],
  ['{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}', '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245n],
  ['{"name":"foo","type":"fixed","size":15}', '{"name":"foo","type":"fixed","size":15}', 1756455273707447556n],
  ['{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}', '{"name":"x.y.z.foo","type":"fixed","size":32}', -3064184465700546786n],
  ['{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}', -589620603366471059n],
  ['{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}', -8732877298790414990n],
  [
    '{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    -1759257747318642341n,
  ],
];

void test('CRC-64-AVRO of no bytes is the specified EMPTY constant', () => {
  assert.equal(crc64Avro(new Uint8Array(0)), 0xc15d213aa4d7a795n);
});

void test('CRC-64-AVRO matches published values ("int", "string"; goavro and the Ruby single-object header)', () => {
  assert.equal(crc64Avro(Buffer.from('"int"')), 0x7275d51a3f395c8fn);
  assert.equal(crc64Avro(Buffer.from('"string"')), 0x8f014872634503c7n);
  // The empty union's canonical form (spec vector 016), hashed directly since avsc cannot parse it.
  assert.equal(BigInt.asIntN(64, crc64Avro(Buffer.from('[]'))), -1241056759729112623n);
  // Ruby's test: the single-object header of "int" is c3 01 8f 5c 39 3f 1a d5 75 72.
  const header = Buffer.alloc(10);
  header.writeUInt16BE(0xc301, 0);
  header.writeBigUInt64LE(fingerprintOf('"int"'), 2);
  assert.equal(header.toString('hex'), 'c3018f5c393f1ad57572');
});

void test('canonical forms and fingerprints match the Avro specification test vectors', () => {
  for (const [input, canonical, javaFingerprint] of SPEC_VECTORS) {
    assert.equal(canonicalFormOf(input), canonical, `canonical form of ${input}`);
    if (javaFingerprint !== null) {
      assert.equal(BigInt.asIntN(64, fingerprintOf(input)), javaFingerprint, `fingerprint of ${input}`);
    }
  }
});

void test('the AppOpen v1 canonical form and fingerprint are pinned (a change breaks every reader)', () => {
  assert.equal(
    canonicalFormOf(APP_OPEN_SCHEMA_V1),
    '{"name":"com.timehop.streams.AppOpen","type":"record","fields":[{"name":"timestamp","type":"long"},' +
      '{"name":"userId","type":"long"},{"name":"platform","type":"string"},' +
      '{"name":"appVersion","type":["null","string"]},{"name":"deviceId","type":["null","string"]}]}',
  );
  assert.equal(APP_OPEN_V1_FINGERPRINT, fingerprintOf(JSON.stringify(APP_OPEN_SCHEMA_V1)));
  assert.equal(formatFingerprint(APP_OPEN_V1_FINGERPRINT), '0xde9354ce0abf1c89');
  assert.equal(BigInt.asIntN(64, APP_OPEN_V1_FINGERPRINT), -2408488131792790391n); // as Java prints it
});

void test('formatFingerprint pads to 16 hex digits', () => {
  assert.equal(formatFingerprint(0x1fn), '0x000000000000001f');
});
