/**
 * Redis URLs taken apart: `redis://`, `rediss://`, `redis+cluster://`, `rediss+cluster://`,
 * `redis+sentinel://`, `rediss+sentinel://` (forms in ./connection.ts). Errors name the problem
 * and show the URL with its password redacted.
 */
import { redactUrl } from '../config/redact.js';

/**
 * A URL taken apart by {@link parseRedisUrl}.
 */
export interface ParsedRedisUrl {
  tls: boolean;
  cluster: boolean;
  nodes: Array<{ host: string; port: number }>;
  username: string | undefined;
  password: string | undefined;
  db: number;
  /** Sentinel URLs only: the master name the sentinels monitor (the hosts are then sentinels). */
  sentinelName?: string;
}

const SCHEMES: Record<string, { tls: boolean; cluster: boolean; sentinel?: boolean }> = {
  'redis:': { tls: false, cluster: false },
  'rediss:': { tls: true, cluster: false },
  'redis+cluster:': { tls: false, cluster: true },
  'rediss+cluster:': { tls: true, cluster: true },
  'redis+sentinel:': { tls: false, cluster: false, sentinel: true },
  'rediss+sentinel:': { tls: true, cluster: false, sentinel: true },
};

const SCHEME_LIST = 'redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://';

/**
 * Takes a Redis URL apart (see the module comment for the forms). Errors name the problem and
 * show the URL with its password redacted.
 *
 * @example
 * parseRedisUrl('rediss://app:s3cret@cache.internal:6380/2');
 * // { tls: true, cluster: false, nodes: [{ host: 'cache.internal', port: 6380 }], username: 'app', password: 's3cret', db: 2 }
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const bad = (why: string): TypeError => new TypeError(`Invalid Redis URL ${redactUrl(url)}: ${why}`);
  const sep = url.indexOf('://');
  if (sep < 0) throw bad(`expected a ${SCHEME_LIST} URL`);
  const scheme = SCHEMES[url.slice(0, sep + 1).toLowerCase()];
  if (!scheme) throw bad(`expected a ${SCHEME_LIST} URL`);
  const rest = url.slice(sep + 3);
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  let hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    throw bad(`query parameters are not supported (${hostPart.slice(q + 1).split('=')[0] ?? ''}); use the options instead`);
  }
  let db = 0;
  let sentinelName: string | undefined;
  const slash = hostPart.indexOf('/');
  if (scheme.sentinel) {
    // host:port[,host:port...]/<masterName>[/db]
    const path = slash >= 0 ? hostPart.slice(slash + 1).split('/') : [];
    hostPart = slash >= 0 ? hostPart.slice(0, slash) : hostPart;
    sentinelName = path[0] === undefined ? '' : safeDecode(path[0]);
    if (sentinelName === undefined || sentinelName === '') throw bad('a sentinel URL needs the master name after the hosts (…/mymaster)');
    if (path.length > 2) throw bad(`unexpected "/${path.slice(2).join('/')}" after the database`);
    if (path[1] !== undefined && path[1] !== '') {
      if (!/^\d{1,5}$/.test(path[1])) throw bad(`the database must be a number, got "${path[1]}"`);
      db = Number(path[1]);
    }
  } else if (slash >= 0) {
    const dbText = hostPart.slice(slash + 1);
    hostPart = hostPart.slice(0, slash);
    if (dbText !== '') {
      if (!/^\d{1,5}$/.test(dbText)) throw bad(`the database must be a number, got "${dbText}"`);
      db = Number(dbText);
    }
  }
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    const rawPass = colon >= 0 ? userinfo.slice(colon + 1) : undefined;
    try {
      username = rawUser === '' ? undefined : decodeURIComponent(rawUser);
      password = rawPass === undefined || rawPass === '' ? undefined : decodeURIComponent(rawPass);
    } catch {
      throw bad('the user or password is not properly percent-encoded');
    }
    // `redis://secret@host` (no colon) is how many tools write a password without a user.
    if (colon < 0 && username !== undefined) {
      password = username;
      username = undefined;
    }
  }
  if (hostPart === '') throw bad('no host');
  const defaultPort = scheme.sentinel ? 26379 : 6379;
  const nodes = hostPart.split(',').map((h) => parseHostPort(h, bad, defaultPort));
  if (nodes.length > 1 && !scheme.cluster && !scheme.sentinel) {
    throw bad('several hosts are only allowed with redis+cluster://, rediss+cluster:// or the sentinel schemes');
  }
  return { tls: scheme.tls, cluster: scheme.cluster, nodes, username, password, db, ...(sentinelName === undefined ? {} : { sentinelName }) };
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function parseHostPort(text: string, bad: (why: string) => TypeError, defaultPort = 6379): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw bad(`unclosed IPv6 address "${text}"`);
    host = text.slice(1, end);
    const after = text.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw bad(`unexpected "${after}" after "${host}"`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  if (host === '') throw bad(`empty host in "${text}"`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(`the port must be 1-65535, got "${portText}"`);
    }
    port = Number(portText);
  }
  return { host, port };
}

