// A fault-injecting proxy in front of moto, for the AWS Secrets Manager answers moto cannot
// give: its auth failures are XML (the real service answers JSON 400 UnrecognizedClientException),
// and it never throttles, fails a KMS decrypt or has a bad day. Everything else passes through
// to moto untouched. The injected bodies are AWS JSON 1.1 errors as the service sends them
// ({"__type", "message"}, lowercase message; x-amzn-RequestId header). Switchable per test;
// counts requests per operation (X-Amz-Target), over HTTP or, with a certificate, HTTPS.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** An AWS JSON error: status, __type and message, as the service answers. */
  | {
      kind: 'error';
      status: number;
      type: string;
      message?: string;
      retryAfter?: string;
      messageKey?: 'message' | 'Message';
    }
  /** Any status, content type and body (an HTML page, garbage, a 200 missing fields). */
  | { kind: 'raw'; status: number; contentType: string; body: string }
  /** Never answers (the client's timeout). */
  | { kind: 'hang' }
  /** Passes through to moto after a delay. */
  | { kind: 'delay'; ms: number };

/** The error bodies the real service sends (vault-test-servers.md §2). */
export const AWS_FAULTS = {
  unrecognizedClient: {
    kind: 'error',
    status: 400,
    type: 'UnrecognizedClientException',
    message: 'The security token included in the request is invalid.',
  },
  invalidClientTokenId: {
    kind: 'error',
    status: 403,
    type: 'InvalidClientTokenId',
    message: 'The security token included in the request is invalid.',
  },
  incompleteSignature: {
    kind: 'error',
    status: 400,
    type: 'IncompleteSignature',
    message: "Authorization header requires 'Credential' parameter.",
  },
  requestExpired: {
    kind: 'error',
    status: 400,
    type: 'RequestExpired',
    message: 'Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)',
  },
  expiredToken: {
    kind: 'error',
    status: 400,
    type: 'ExpiredTokenException',
    message: 'The security token included in the request is expired',
  },
  invalidSignature: {
    kind: 'error',
    status: 400,
    type: 'InvalidSignatureException',
    message:
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
  },
  missingToken: {
    kind: 'error',
    status: 403,
    type: 'MissingAuthenticationToken',
    message: 'Missing Authentication Token',
  },
  optInRequired: {
    kind: 'error',
    status: 403,
    type: 'OptInRequired',
    message: 'The AWS access key ID needs a subscription for the service.',
  },
  notAuthorized: {
    kind: 'error',
    status: 400,
    type: 'NotAuthorized',
    message: 'You do not have permission to perform this action.',
  },
  accessDenied: {
    kind: 'error',
    status: 400,
    type: 'AccessDeniedException',
    message:
      'User: arn:aws:iam::123456789012:user/scanner is not authorized to perform: secretsmanager:GetSecretValue on resource: db/web because no identity-based policy allows the secretsmanager:GetSecretValue action',
  },
  kmsDenied: { kind: 'error', status: 400, type: 'AccessDeniedException', message: 'Access to KMS is not allowed' },
  decryptionFailure: {
    kind: 'error',
    status: 400,
    type: 'DecryptionFailure',
    message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
  },
  notFound: {
    kind: 'error',
    status: 400,
    type: 'ResourceNotFoundException',
    message: "Secrets Manager can't find the specified secret.",
  },
  throttled: { kind: 'error', status: 400, type: 'ThrottlingException', message: 'Rate exceeded', retryAfter: '1' },
  internalError: {
    kind: 'error',
    status: 500,
    type: 'InternalServiceError',
    message: 'An error occurred on the server side.',
  },
  internalFailure: {
    kind: 'error',
    status: 500,
    type: 'InternalFailure',
    message: 'The request processing has failed because of an unknown error, exception or failure.',
  },
  serviceUnavailable: {
    kind: 'error',
    status: 503,
    type: 'ServiceUnavailable',
    message: 'The request has failed due to a temporary failure of the server.',
  },
  internalError400: {
    kind: 'error',
    status: 400,
    type: 'InternalServiceError',
    message: 'An error occurred on the server side.',
  },
  validationError: {
    kind: 'error',
    status: 400,
    type: 'ValidationError',
    message: 'The input fails to satisfy the constraints specified by an AWS service.',
  },
  invalidParameter: {
    kind: 'error',
    status: 400,
    type: 'InvalidParameterException',
    message: 'You provided an invalid value for a parameter.',
  },
  html: {
    kind: 'raw',
    status: 200,
    contentType: 'text/html',
    body: '<html><body><h1>Proxy login</h1></body></html>',
  },
  htmlBadGateway: {
    kind: 'raw',
    status: 502,
    contentType: 'text/html',
    body: '<html><body>502 Bad Gateway</body></html>',
  },
  garbage: { kind: 'raw', status: 200, contentType: 'application/x-amz-json-1.1', body: '{"ARN": "arn:aws:secr' },
  noValue: {
    kind: 'raw',
    status: 200,
    contentType: 'application/x-amz-json-1.1',
    body: JSON.stringify({
      ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db/web-AbCdEf',
      Name: 'db/web',
      VersionId: 'b2d1c2c4-1111-2222-3333-444455556666',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1714557600.123,
    }),
  },
} satisfies Record<string, Fault>;

export interface AwsFaultProxy {
  url: string;
  /** Requests seen, by operation (GetSecretValue, ListSecrets…), faulted or not. */
  readonly counts: Record<string, number>;
  /** GetSecretValue requests seen. */
  reads(): number;
  /** The most requests in flight at once. */
  readonly maxInFlight: number;
  /** Answers the next `times` requests (default: all until reset) with this fault. */
  inject(fault: Fault, times?: number): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startAwsFaultProxy(
  upstream: string,
  tls?: { cert: string; key: string },
): Promise<AwsFaultProxy> {
  let fault: Fault | undefined;
  let remaining = Infinity;
  let inFlight = 0;
  const state = { counts: {} as Record<string, number>, maxInFlight: 0 };
  const hung = new Set<ServerResponse>();

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const target = new URL(upstream);
    const out = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    out.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      res.once('close', () => inFlight--);
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '') || 'other';
      state.counts[operation] = (state.counts[operation] ?? 0) + 1;
      const body = Buffer.concat(chunks);
      const now = fault && remaining > 0 ? fault : undefined;
      if (now) {
        remaining--;
        if (remaining <= 0) fault = undefined;
      }
      if (!now) return forward(req, body, res);
      const requestId = randomUUID();
      switch (now.kind) {
        case 'hang':
          hung.add(res);
          return;
        case 'delay':
          setTimeout(() => forward(req, body, res), now.ms);
          return;
        case 'raw':
          res.writeHead(now.status, { 'content-type': now.contentType, 'x-amzn-RequestId': requestId });
          res.end(now.body);
          return;
        case 'error':
          res.writeHead(now.status, {
            'content-type': 'application/x-amz-json-1.1',
            'x-amzn-RequestId': requestId,
            ...(now.retryAfter && { 'retry-after': now.retryAfter }),
          });
          res.end(JSON.stringify({ __type: now.type, [now.messageKey ?? 'message']: now.message ?? now.type }));
          return;
      }
    });
  };

  const server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    get counts() {
      return state.counts;
    },
    reads: () => state.counts.GetSecretValue ?? 0,
    get maxInFlight() {
      return state.maxInFlight;
    },
    inject(f, times = Infinity) {
      fault = f;
      remaining = times;
    },
    reset() {
      fault = undefined;
      remaining = Infinity;
      state.counts = {};
      state.maxInFlight = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
