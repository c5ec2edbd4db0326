/**
 * A fault-injecting HTTP proxy in front of kinesalite.
 *
 * Why a fake: kinesalite never fails a request or a record on its own (FailedRecordCount is
 * always 0) and there is no way to make it answer 500, so the two failures the producer exists to
 * survive cannot be caused for real. The proxy causes them the way Kinesis shows them:
 * - a whole-request failure: HTTP 500 `InternalFailure`, and the request never reaches the stream;
 * - per-record failures: the chosen records are taken out of the PutRecords request before it is
 *   forwarded (so they are really not written) and put back into the answer, at their positions,
 *   as `{ErrorCode, ErrorMessage}` entries with FailedRecordCount adjusted, exactly like a
 *   partially failed PutRecords.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A record of a PutRecords request as the JSON protocol carries it. */
export interface WireRecord {
  Data: string;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

export interface FaultRules {
  /** Return true to answer this PutRecords call (the n-th, from 1) with a 500 without forwarding it. */
  failRequest?: (n: number) => boolean;
  /**
   * Other whole-call faults, checked after `failRequest`: an error answer such as
   * `{ status: 400, type: 'LimitExceededException' }`, or `'hang'` (never answered, never
   * forwarded, until the client gives up or the proxy closes).
   */
  requestFault?: (n: number) => { status: number; type: string } | 'hang' | undefined;
  /** Return an ErrorCode to fail this record of a PutRecords call, or undefined to let it through. */
  failRecord?: (record: WireRecord) => string | undefined;
}

export interface FaultProxy {
  endpoint: string;
  /** What the proxy did so far. */
  counts: { putRecordsCalls: number; failedRequests: number; failedRecords: number; forwardedRecords: number };
  close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1:0, forwarding to `target` (kinesalite's endpoint). */
export async function startFaultProxy(target: string, rules: FaultRules): Promise<FaultProxy> {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const counts = { putRecordsCalls: 0, failedRequests: 0, failedRecords: 0, forwardedRecords: 0 };
  const hung = new Set<http.ServerResponse>();

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length), host: t.host };
      const out = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  const send = (res: http.ServerResponse, status: number, contentType: string, body: Buffer | string): void => {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(b.length), 'x-amzn-requestid': 'fault-proxy' });
    res.end(b);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    const contentType = String(req.headers['content-type'] ?? 'application/x-amz-json-1.1');
    if (!target.endsWith('.PutRecords')) {
      const r = await forward(req, body);
      send(res, r.status, String(r.headers['content-type'] ?? contentType), r.body);
      return;
    }
    const n = ++counts.putRecordsCalls;
    if (rules.failRequest?.(n)) {
      counts.failedRequests++;
      send(res, 500, contentType, JSON.stringify({ __type: 'InternalFailure', message: 'injected by the fault proxy' }));
      return;
    }
    const fault = rules.requestFault?.(n);
    if (fault === 'hang') {
      counts.failedRequests++;
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    if (fault !== undefined) {
      counts.failedRequests++;
      send(res, fault.status, contentType, JSON.stringify({ __type: fault.type, message: 'injected by the fault proxy' }));
      return;
    }
    const request = JSON.parse(body.toString('utf8')) as { Records: WireRecord[] } & Record<string, unknown>;
    const failures: Array<string | undefined> = request.Records.map((r) => rules.failRecord?.(r));
    const kept = request.Records.filter((_, i) => failures[i] === undefined);
    counts.failedRecords += request.Records.length - kept.length;
    counts.forwardedRecords += kept.length;
    let results: Array<Record<string, unknown>> = [];
    if (kept.length > 0) {
      body = Buffer.from(JSON.stringify({ ...request, Records: kept }));
      const r = await forward(req, body);
      if (r.status !== 200) {
        send(res, r.status, String(r.headers['content-type'] ?? contentType), r.body);
        return;
      }
      results = (JSON.parse(r.body.toString('utf8')) as { Records: Array<Record<string, unknown>> }).Records;
    }
    let k = 0;
    let failed = 0;
    const merged = failures.map((code) => {
      if (code === undefined) return results[k++]!;
      failed++;
      return { ErrorCode: code, ErrorMessage: `injected ${code} by the fault proxy` };
    });
    send(res, 200, contentType, JSON.stringify({ FailedRecordCount: failed, Records: merged }));
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 502, 'text/plain', String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: async () => {
      for (const res of hung) res.destroy();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
