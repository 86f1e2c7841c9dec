// Microsoft's own clients against the fake (run in a child process whose NODE_EXTRA_CA_CERTS
// trusts the fake's CA): @azure/identity's ClientSecretCredential and ClientCertificateCredential,
// @azure/keyvault-secrets' SecretClient with its challenge-based authentication. Prints one JSON
// line with what the SDK made of each answer.
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

const env = process.env;
const authorityHost = env.FAKE_AUTHORITY;
const credential = new ClientSecretCredential(env.FAKE_TENANT, env.FAKE_CLIENT, env.FAKE_SECRET, {
  authorityHost,
  disableInstanceDiscovery: true,
});
const client = new SecretClient(env.FAKE_URL, credential, { disableChallengeResourceVerification: true });

const out = {};
const attempt = async (name, call) => {
  try {
    out[name] = { ok: await call() };
  } catch (err) {
    out[name] = {
      error: {
        name: err.name,
        code: err.code,
        statusCode: err.statusCode,
        inner: err.details?.error?.innerError?.code,
        message: String(err.message).slice(0, 300),
      },
    };
  }
};

await attempt('latest', async () => {
  const s = await client.getSecret(env.SECRET_NAME);
  return {
    value: s.value,
    version: s.properties.version,
    enabled: s.properties.enabled,
    contentType: s.properties.contentType,
  };
});
await attempt('version', async () => (await client.getSecret(env.SECRET_NAME, { version: env.SECRET_VERSION })).value);
await attempt('disabled', async () => (await client.getSecret(env.DISABLED_NAME)).value);
await attempt('missing', async () => (await client.getSecret('no-such-secret')).value);
const bad = new SecretClient(
  env.FAKE_URL,
  new ClientSecretCredential(env.FAKE_TENANT, env.FAKE_CLIENT, 'wrong-secret', {
    authorityHost,
    disableInstanceDiscovery: true,
  }),
  { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } },
);
await attempt('badSecret', async () => (await bad.getSecret(env.SECRET_NAME)).value);
const certificate = new ClientCertificateCredential(
  env.FAKE_TENANT,
  env.FAKE_CLIENT,
  { certificate: `${env.APP_CERT}\n${env.APP_KEY}` },
  { authorityHost, disableInstanceDiscovery: true },
);
const certClient = new SecretClient(env.FAKE_URL, certificate, { disableChallengeResourceVerification: true });
await attempt('certificate', async () => (await certClient.getSecret(env.SECRET_NAME)).value);
process.stdout.write(`${JSON.stringify(out)}\n`);
