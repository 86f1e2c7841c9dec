// Google's own client against the fake (run in a child process whose NODE_EXTRA_CA_CERTS
// trusts the fake's CA): @google-cloud/secret-manager in REST mode (fallback: true), first with
// the service-account credentials as given (google-auth-library then signs its own JWTs), then
// with a JWT client whose token comes from the fake's token endpoint (gtoken's jwt-bearer
// exchange; gtoken always posts to oauth2.googleapis.com, so the request is pointed at the fake).
// Prints one JSON line with what the SDK made of each answer.
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { JWT } from 'google-auth-library';

const env = process.env;
const key = JSON.parse(env.SA_KEY);
const common = { fallback: true, apiEndpoint: '127.0.0.1', port: Number(env.FAKE_PORT) };
const selfSigned = new SecretManagerServiceClient({
  ...common,
  credentials: { client_email: key.client_email, private_key: key.private_key },
  projectId: key.project_id,
});
const jwt = new JWT({
  email: key.client_email,
  key: key.private_key,
  keyId: key.private_key_id,
  scopes: ['https://www.googleapis.com/auth/cloud-platform'],
});
jwt.transporter.interceptors.request.add({
  resolved: async (config) => {
    if (String(config.url).startsWith('https://oauth2.googleapis.com/token')) config.url = new URL(key.token_uri);
    return config;
  },
});
const exchanged = new SecretManagerServiceClient({ ...common, authClient: jwt });
// The client switches its auth client to self-signed JWTs; switch this one back to the exchange.
jwt.useJWTAccessWithScope = false;
jwt.defaultServicePath = undefined;

const secret = `projects/${key.project_id}/secrets/${env.SECRET}`;
const out = {};
const attempt = async (name, call) => {
  try {
    out[name] = { ok: await call() };
  } catch (err) {
    out[name] = {
      error: {
        name: err.name,
        code: err.code,
        status: err.status,
        googleStatus: err.error?.status,
        message: String(err.message).slice(0, 300),
      },
    };
  }
};
const access = async (client, version) => {
  const [v] = await client.accessSecretVersion({ name: `${secret}/versions/${version}` });
  return { name: v.name, data: Buffer.from(v.payload.data).toString('utf8'), crc: String(v.payload.dataCrc32c) };
};
await attempt('latestSelfSigned', () => access(selfSigned, 'latest'));
await attempt('latestExchanged', () => access(exchanged, 'latest'));
await attempt('version1', () => access(exchanged, '1'));
await attempt('disabled', () => access(exchanged, env.DISABLED_VERSION));
await attempt('missing', () => access(exchanged, '99'));
await attempt('listEnabled', async () => {
  const [versions] = await exchanged.listSecretVersions({ parent: secret, filter: 'state:ENABLED' });
  return versions.map((v) => ({ name: v.name, state: v.state }));
});
await attempt('listAll', async () => {
  const versions = [];
  for await (const v of exchanged.listSecretVersionsAsync({ parent: secret, pageSize: 1 }))
    versions.push({ name: v.name, state: v.state });
  return versions;
});
out.tokenExchanges = jwt.credentials?.access_token?.startsWith('ya29.fake-') ?? false;
process.stdout.write(`${JSON.stringify(out)}\n`);
