/**
 * A TCP proxy on a free loopback port that forwards every new connection to a target port the
 * test can change: it stands in for a managed service's primary endpoint, whose DNS name is moved
 * to the new primary on failover. As with DNS, connections already open stay with the old target;
 * only new connections reach the new one. (A fake only for the name resolution: the servers
 * behind it are real.)
 *
 * @example
 * const proxy = await startTcpProxy(primary.port);
 * const url = `redis://127.0.0.1:${proxy.port}`;
 * proxy.retarget(newPrimary.port); // "DNS now points at the new primary"
 * await proxy.close();
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Where new connections go. */
  readonly target: number;
  /** Sends new connections to `port` from now on (open ones are left alone). */
  retarget(port: number): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  let current = target;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(current, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get target() {
      return current;
    },
    retarget(port: number) {
      current = port;
    },
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
