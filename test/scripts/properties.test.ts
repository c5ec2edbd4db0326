/**
 * The daemon's properties templates and their renderer. The daemon ignores unknown keys silently,
 * so every key of every template is checked against the keys KCL 2.7.2 reads.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isKnownKey, propertyKeys, renderProperties } from '../../scripts/properties.js';
import { ROOT } from '../../scripts/stack.js';

const templates = ['lastopens.properties', 'lastopens.local.properties'];

/** Keys in `# key = value` lines: documented options the template leaves commented out. */
function commentedKeys(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const match = /^#([A-Za-z][A-Za-z0-9.]*) = /.exec(line);
    return match?.[1] ? [match[1]] : [];
  });
}

void describe('properties templates', () => {
  for (const name of templates) {
    void test(`${name}: every key, set or commented out, is one KCL 2.7.2 reads`, () => {
      const text = readFileSync(join(ROOT, 'properties', name), 'utf8');
      const keys = [...propertyKeys(text), ...commentedKeys(text)];
      assert.ok(keys.length >= 10, `found only ${keys.length} keys`);
      assert.deepEqual(keys.filter((k) => !isKnownKey(k)), []);
    });
  }

  void test('the production template sets the keys a deployment needs', () => {
    const keys = propertyKeys(readFileSync(join(ROOT, 'properties', 'lastopens.properties'), 'utf8'));
    for (const key of ['executableName', 'streamName', 'applicationName', 'regionName', 'AwsCredentialsProvider',
      'initialPositionInStream', 'retrievalMode', 'maxRecords', 'timeoutInSeconds', 'shutdownGraceMillis', 'failoverTimeMillis']) {
      assert.ok(keys.includes(key), key);
    }
  });

  void test('the local template points at the stand-ins: endpoints, no metrics, polling, env credentials', () => {
    const text = readFileSync(join(ROOT, 'properties', 'lastopens.local.properties'), 'utf8');
    assert.match(text, /^kinesisEndpoint = http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(text, /^dynamoDBEndpoint = http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(text, /^metricsLevel = NONE$/m);
    assert.match(text, /^retrievalMode = POLLING$/m);
    assert.match(text, /^AwsCredentialsProvider = EnvironmentVariableCredentialsProvider$/m);
  });
});

void describe('renderProperties', () => {
  test('replaces values in place, keeps comments and order, appends missing keys', () => {
    const template = '# comment\nstreamName = a\n\napplicationName: b\n#workerId = x\n';
    assert.equal(
      renderProperties(template, { applicationName: 'c', streamName: 'd', workerId: 'w1' }),
      '# comment\nstreamName = d\n\napplicationName: c\n#workerId = x\nworkerId = w1\n',
    );
  });

  test('refuses a key the daemon would silently ignore, naming it', () => {
    assert.throws(() => renderProperties('', { idleTimeBetweenReadsMillis: 5 }), /idleTimeBetweenReadsMillis/);
  });

  test('the AwsCredentialsProvider family is case-insensitive, as in KCL; other keys are not', () => {
    assert.equal(isKnownKey('awsCredentialsProvider'), true);
    assert.equal(isKnownKey('AwsCredentialsProviderDynamoDB'), true);
    assert.equal(isKnownKey('AwsCredentialsProviderKinesis'), false);
    assert.equal(isKnownKey('StreamName'), false);
  });

  test('escapes backslashes, which Java properties would otherwise eat', () => {
    assert.equal(renderProperties('', { executableName: 'C:\\w\\x.exe' }), 'executableName = C:\\\\w\\\\x.exe\n');
  });
});
