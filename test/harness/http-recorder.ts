// A pass-through in front of a plain-HTTP server (a vault under test) that notes when each
// request came and how it was answered: the status and the Retry-After header, never a body
// (a vault's answers carry secrets). The server behind it answers everything; this only watches,
// so a test can tell how a client paced its calls against what the server asked of it.
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedExchange {
  method: string;
  /** The path without its query string. */
  path: string;
  /** When the request reached the recorder, and when the server's answer did (performance.timeOrigin-based ms). */
  sentAt: number;
  answeredAt: number;
  status: number;
  /** The Retry-After header as the server sent it, if it did. */
  retryAfter: string | undefined;
}

export interface HttpRecorder {
  url: string;
  exchanges: RecordedExchange[];
  close(): Promise<void>;
}

const now = () => performance.timeOrigin + performance.now();

export async function startHttpRecorder(target: string): Promise<HttpRecorder> {
  const upstream = new URL(target);
  const exchanges: RecordedExchange[] = [];
  const server = createServer((req, res) => {
    const sentAt = now();
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        const retryAfter = answer.headers['retry-after'];
        exchanges.push({
          method: req.method ?? '',
          path: (req.url ?? '').split('?')[0]!,
          sentAt,
          answeredAt: now(),
          status: answer.statusCode ?? 0,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    // The server is down: the client sees what it would see without us, a dropped connection.
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
