// A TLS front for the Temporal dev server, which cannot serve TLS itself: it terminates TLS
// (optionally demanding a client certificate), records each gRPC call it decrypted (path,
// authorization header, client certificate), and forwards the call over plain HTTP/2 to the
// dev server. Terminating HTTP/2 rather than piping bytes is what lets a test see the
// `authorization` header an API key must produce. Listens on 127.0.0.1 only.
import http2, {
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface TlsProxyOptions {
  /** host:port of the dev server's plain gRPC port. */
  upstream: string;
  cert: Buffer;
  key: Buffer;
  /** When set, only clients with a certificate this CA signed complete the handshake (mTLS). */
  clientCa?: Buffer;
}

export interface DecryptedCall {
  path: string;
  authorization: string | undefined;
  /** CN of the client certificate, when one was presented. */
  clientCertificate: string | undefined;
}

export interface TlsProxy {
  address: string;
  calls: DecryptedCall[];
  /** Why handshakes failed (a missing client certificate, an unknown CA alert, …). */
  handshakeErrors: string[];
  stop(): Promise<void>;
}

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** Everything but the pseudo-headers, which each HTTP/2 hop sets for itself. */
function withoutPseudoHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':')));
}

export async function startTlsProxy(options: TlsProxyOptions): Promise<TlsProxy> {
  const calls: DecryptedCall[] = [];
  const handshakeErrors: string[] = [];
  const sessions = new Set<ServerHttp2Session | ClientHttp2Session>();
  let upstream: ClientHttp2Session | undefined;
  const upstreamSession = () => {
    if (!upstream || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(`http://${options.upstream}`);
      upstream.on('error', () => {}); // its streams report the failure to their callers
      sessions.add(upstream);
    }
    return upstream;
  };

  const server = http2.createSecureServer({
    cert: options.cert,
    key: options.key,
    ALPNProtocols: ['h2'],
    ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  });
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  server.on('session', (session) => sessions.add(session));

  server.on('stream', (down, headers) => {
    const peer = (down.session?.socket as TLSSocket | undefined)?.getPeerCertificate();
    const cn = peer?.subject?.CN;
    calls.push({
      path: String(headers[':path']),
      authorization: headers.authorization,
      clientCertificate: Array.isArray(cn) ? cn.join(',') : cn,
    });
    down.on('error', () => {});
    const up = upstreamSession().request({
      ...withoutPseudoHeaders(headers),
      ':method': headers[':method'],
      ':path': headers[':path'],
    });
    down.pipe(up);
    let trailers: OutgoingHttpHeaders = {};
    up.on('trailers', (received) => (trailers = withoutPseudoHeaders(received)));
    up.on('response', (received, flags) => {
      if (down.closed) return;
      const response = { ...withoutPseudoHeaders(received), ':status': received[':status'] };
      // A gRPC error often comes as headers alone ("trailers-only"): answer the same way.
      if (flags & NGHTTP2_FLAG_END_STREAM) return down.respond(response, { endStream: true });
      down.respond(response, { waitForTrailers: true });
      down.on('wantTrailers', () => down.sendTrailers(trailers));
      up.pipe(down);
    });
    // A cancelled call (a worker's long poll at shutdown) is cancelled upstream too, and back.
    down.on('close', () => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
    });
    up.on('error', () => {
      if (!down.closed) down.close(NGHTTP2_INTERNAL_ERROR);
    });
    up.on('close', () => {
      // A normal close (code 0) comes while the answer may still be on its way down.
      if (!down.closed && up.rstCode) down.close(up.rstCode);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    handshakeErrors,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
}
