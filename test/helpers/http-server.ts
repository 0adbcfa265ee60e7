// A real HTTP server on 127.0.0.1 (port 0) for download tests, with scripted misbehaviour per route:
// 5xx before success, a connection dropped mid-body, Range ignored, a stalled body, a slow body, a
// required Authorization header. It records every request so tests can assert on what the client sent.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one path serves, and how it misbehaves. */
export interface Route {
  /** File bytes to serve (honouring Range unless ignoreRange). */
  body?: Buffer;
  /** A JSON answer instead of a file (an API). */
  json?: unknown;
  /** Always answer this status with no body (e.g. 404). */
  status?: number;
  /** Answer 500 to this many requests before serving (Infinity: always). */
  failTimes?: number;
  /** The first request gets the headers and half the body, then the connection is destroyed. */
  dropFirst?: boolean;
  /** Answer 200 with the whole body even to a Range request. */
  ignoreRange?: boolean;
  /** Send the headers and 1 KiB of body, then nothing, forever. */
  stall?: boolean;
  /** Required Authorization header; anything else gets 401. */
  auth?: string;
  /** Send the body in 1 KiB pieces, this many ms apart (so that transfers overlap in time). */
  pieceDelayMs?: number;
}

/** One request as the server saw it, and the status it answered. */
export interface SeenRequest {
  path: string;
  range?: string;
  authorization?: string;
  status: number;
}

export interface TestServer {
  url(path: string): string;
  /** The server's origin, e.g. for HF_ENDPOINT. */
  origin: string;
  requests: SeenRequest[];
  hits(path: string): SeenRequest[];
  /** The most file bodies that were being sent at the same time. */
  maxInFlight(): number;
  close(): Promise<void>;
}

/** Starts the server; routes are keyed by URL path (e.g. "/book.zip"). */
export async function startServer(routes: Record<string, Route>): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const counts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const seen: SeenRequest = {
      path,
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
    };
    requests.push(seen);
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      seen.status = status;
      res.writeHead(status, headers);
    };
    const reply = (status: number, headers: Record<string, string> = {}, text?: string) => {
      answer(status, headers);
      res.end(text);
    };
    const route = routes[path];
    if (!route) return reply(404);
    if (route.auth !== undefined && req.headers.authorization !== route.auth) return reply(401);
    if (route.status) return reply(route.status);
    if (n <= (route.failTimes ?? 0)) return reply(500, {}, 'boom');
    if (route.json !== undefined)
      return reply(200, { 'content-type': 'application/json' }, JSON.stringify(route.json));
    const body = route.body ?? Buffer.alloc(0);
    const type = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (route.stall) {
      answer(200, { ...type, 'content-length': body.length });
      res.write(body.subarray(0, 1024));
      return;
    }
    if (route.dropFirst && n === 1) {
      answer(200, { ...type, 'content-length': body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    const start = route.ignoreRange ? undefined : /^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1];
    if (start !== undefined) {
      const from = Number(start);
      answer(206, {
        ...type,
        'content-length': body.length - from,
        'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
      });
      return res.end(body.subarray(from));
    }
    answer(200, { ...type, 'content-length': body.length });
    if (!route.pieceDelayMs) return res.end(body);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let sent = 0;
    const timer = setInterval(() => {
      res.write(body.subarray(sent, sent + 1024));
      sent += 1024;
      if (sent < body.length) return;
      clearInterval(timer);
      inFlight--;
      res.end();
    }, route.pieceDelayMs);
    res.on('close', () => {
      if (sent >= body.length) return;
      clearInterval(timer);
      inFlight--;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    requests,
    hits: (path) => requests.filter((r) => r.path === path),
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
