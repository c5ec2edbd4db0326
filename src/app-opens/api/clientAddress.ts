/**
 * The rate-limit key of a client address: one counter per IPv4 address and per IPv6 /64 (the
 * smallest block an ISP hands a customer, so a client cannot rotate through its own addresses),
 * with IPv4-mapped IPv6 addresses (`::ffff:203.0.113.9`) counted as the IPv4 address they carry.
 */
import { isIP, isIPv4 } from 'node:net';

/**
 * The rate-limit key of `address`: `a.b.c.d` for IPv4 (also when written as IPv4-mapped IPv6),
 * `xxxx:xxxx:xxxx:xxxx::/64` for IPv6, or `undefined` when `address` is not an IP address (a
 * garbage `X-Forwarded-For` entry); the caller then keys by the TCP peer instead.
 */
export function clientKey(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  if (isIPv4(address)) return address;
  // A zone (`fe80::1%eth0`) names the interface, not the client.
  const bare = address.split('%', 1)[0]!;
  if (isIP(bare) !== 6) return undefined;
  const groups = expandIPv6(bare);
  // ::ffff:0:0/96 carries an IPv4 address in its last 32 bits (either spelling).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function expandIPv6(address: string): number[] {
  let text = address.toLowerCase();
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail !== null) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  if (rest === undefined) return left;
  const right = parse(rest);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
