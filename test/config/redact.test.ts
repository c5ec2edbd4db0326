/**
 * The one URL redaction (src/config/redact.ts), table-driven: every URL shape the binaries, the
 * Redis client's errors and the scripts may log. Each row gives the input and the exact output;
 * then every Redis URL the client accepts is checked against what the client itself reads as
 * the password, so the redaction cannot drift from the parser.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../../src/config/redact.js';
import { parseRedisUrl } from '../../src/redis/connection.js';

const SECRET = 'pa/ss@w?rd#1';
const ENC = encodeURIComponent(SECRET);

const ROWS: Array<[what: string, input: string, expected: string]> = [
  ['password with / @ ? #', `redis://app:${SECRET}@cache:6379/1`, 'redis://app:***@cache:6379/1'],
  ['password percent-encoded', `redis://app:${ENC}@cache:6379/1`, 'redis://app:***@cache:6379/1'],
  ['password with :', 'redis://app:pa:ss:word@cache', 'redis://app:***@cache'],
  ['empty user', 'rediss://:s3cret@cache', 'rediss://:***@cache'],
  ['user only (a password in the user position)', 'redis://s3cret@cache', 'redis://***@cache'],
  ['TLS with db', 'rediss://app:s3cret@cache.example.com:6380/0', 'rediss://app:***@cache.example.com:6380/0'],
  ['cluster seed list', 'redis+cluster://u:p@a:1,b:2', 'redis+cluster://u:***@a:1,b:2'],
  ['TLS cluster with IPv6 seed', `rediss+cluster://:${ENC}@a:7000,[::1]:7001`, 'rediss+cluster://:***@a:7000,[::1]:7001'],
  ['sentinel list with master name', `redis+sentinel://u:${SECRET}@s1:26379,s2:26379/mymaster/2`, 'redis+sentinel://u:***@s1:26379,s2:26379/mymaster/2'],
  ['scheme in capitals', 'REDIS://u:p@h', 'REDIS://u:***@h'],
  ['no credentials', 'redis://cache:6379', 'redis://cache:6379'],
  ['http with password', 'https://user:s3cret@example.com/x', 'https://user:***@example.com/x'],
  ['http with a token as user', 'https://ghp_token@example.com/x', 'https://***@example.com/x'],
  ['http without credentials', 'http://127.0.0.1:4567', 'http://127.0.0.1:4567'],
  ['unknown scheme that WHATWG refuses', 'weird://u:pa/ss@h', 'weird://u:***@h'],
  ['no scheme', `app:${SECRET}@cache:6379`, '***@cache:6379'],
  ['garbage', `garbage ${SECRET}@x`, '***@x'],
  ['no scheme, no @', 'cache:6379', 'cache:6379'],
  ['empty', '', ''],
];

describe('redactUrl', () => {
  for (const [what, input, expected] of ROWS) {
    test(what, () => {
      assert.equal(redactUrl(input), expected);
    });
  }

  test('every Redis URL the client accepts is logged without the password the client reads from it', () => {
    const urls = [
      `redis://app:${SECRET}@cache:6379/1`,
      `rediss://:${SECRET}@cache`,
      `redis+cluster://app:${SECRET}@a:7000,b:7001`,
      `rediss+cluster://:${ENC}@a:7000,[::1]:7001`,
      `redis://${ENC}@cache`,
    ];
    for (const url of urls) {
      const { password } = parseRedisUrl(url);
      assert.equal(password, SECRET, url);
      const out = redactUrl(url);
      assert.ok(!out.includes('pa/ss') && !out.includes(ENC), `${url} -> ${out}`);
      assert.match(out, /\*\*\*@/);
    }
  });

  test('exactly one implementation in the tree', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const defining: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.ts') && /function redactUrl\b/.test(readFileSync(path, 'utf8'))) defining.push(path.slice(root.length));
      }
    };
    for (const top of ['src', 'scripts', 'bench']) walk(join(root, top));
    assert.deepEqual(defining, ['src/config/redact.ts']);
  });
});
