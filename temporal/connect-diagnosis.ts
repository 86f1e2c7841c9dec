// Why a connection to Temporal failed, in words an operator can act on. grpc-js reports a
// refused TLS handshake only as "Failed to connect before the deadline", so after a failure
// one handshake of our own, with the same address and TLS material, finds the reason and the
// variable to look at. Only after a failure: grpc-js may reach the server through a proxy
// (grpc_proxy) that this direct probe does not use, so a probe never blocks a connection.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import type { TemporalTransport } from './tls-settings.js';

type Probed = Pick<TemporalTransport, 'tls'> & { address: string };

const CLIENT_CERTIFICATE_HINT =
  'set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH to a client certificate the server trusts';

/** Node's error code (or reason) → what to do about it. */
const HINTS: [RegExp, string][] = [
  [
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_SIGNATURE_FAILURE)$/,
    'the server certificate is not signed by a CA this process trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it',
  ],
  [
    /^ERR_TLS_CERT_ALTNAME_INVALID$/,
    'the server certificate is not issued for that host name: set TEMPORAL_TLS_SERVER_NAME to a name it is issued for',
  ],
  [/^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/, 'the server certificate is not valid at this time'],
  [
    /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED/,
    `the server refused this client's certificate, or the lack of one: ${CLIENT_CERTIFICATE_HINT}`,
  ],
  [
    /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE/,
    'the server does not speak TLS on that port: check TEMPORAL_ADDRESS, or unset TEMPORAL_TLS, its certificate variables and TEMPORAL_API_KEY',
  ],
  [/^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/, 'nothing answers there: check TEMPORAL_ADDRESS'],
];

/** The error to stop with: the probe's reason when it finds one, the original one otherwise. */
export async function explainConnectFailure(settings: Probed, err: unknown): Promise<Error> {
  const over = settings.tls ? ' over TLS' : '';
  const reason = await probe(settings).catch(() => undefined);
  const original = err instanceof Error ? err.message : String(err);
  return new Error(`could not connect to Temporal at ${settings.address}${over}: ${reason ?? original}`, {
    cause: err,
  });
}

// What an HTTP/2 client sends first; a server that accepted us answers with its own settings.
const HTTP2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/** undefined when the handshake went through (then the probe has nothing to add). */
function probe({ address, tls }: Probed): Promise<string | undefined> {
  const url = new URL(`http://${address}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 7233);
  const checkedName = tls?.serverNameOverride ?? host;
  const socket: Socket = tls
    ? tlsConnect({
        host,
        port,
        ALPNProtocols: ['h2'],
        ...(isIP(checkedName) ? {} : { servername: checkedName }),
        ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
        ...(tls.clientCertPair
          ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) }
          : {}),
        checkServerIdentity: (_host, certificate) => checkServerIdentity(checkedName, certificate),
      })
    : netConnect({ host, port });
  return new Promise((resolve) => {
    const settle = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => settle(undefined), 5_000);
    let handshakeDone = false;
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      handshakeDone = true;
      socket.write(HTTP2_PREFACE);
    });
    socket.once('data', () => settle(undefined));
    socket.once('error', (error: NodeJS.ErrnoException & { reason?: string }) => {
      // OpenSSL's errors carry a short `reason` beside a message full of source locations.
      // Node 24 appends to a failed verification its own advice ("; if the root CA is installed
      // locally, try running Node.js with --use-system-ca"), which concerns Node's CA store, not
      // the connections that failed: the hint says what to set, OpenSSL's verdict is kept alone.
      const detail = error.reason ?? error.message.trim().split('; if the root CA is installed locally')[0]!;
      const hint = HINTS.find(([pattern]) => pattern.test(error.code ?? ''))?.[1];
      settle(hint ? `${hint} (${detail})` : detail);
    });
    socket.once('close', () => {
      if (!tls)
        return settle(
          'the server closed the connection at once: if it expects TLS, set TEMPORAL_TLS=true (and its certificate variables)',
        );
      // Some servers (Node's among them) refuse a client certificate by hanging up, not with an alert.
      settle(
        handshakeDone
          ? `the server hung up right after the TLS handshake, as servers do when they refuse a client certificate or its absence: ${CLIENT_CERTIFICATE_HINT}`
          : 'the server closed the connection during the TLS handshake',
      );
    });
  });
}
