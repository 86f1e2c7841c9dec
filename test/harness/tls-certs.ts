// Throwaway X.509 material for TLS tests, made with the openssl CLI: Node's crypto makes keys
// but cannot sign certificates. EC P-256 keys, valid for a day, in a folder of the caller's.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertificateFiles {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed (is the openssl CLI installed?): ${stderr || (err as Error).message}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function createCa(dir: string, name: string): CertificateFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    files.key,
    '-out',
    files.cert,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

/**
 * A leaf certificate signed by `ca`: a server one (SANs 127.0.0.1 and localhost, or the
 * `altNames` given, e.g. ['IP:127.0.5.1']) or a client one (for mTLS). rustls, under
 * NativeConnection, insists on these v3 extensions.
 */
export function issueCertificate(
  ca: CertificateFiles,
  dir: string,
  name: string,
  use: 'server' | 'client',
  altNames: string[] = ['IP:127.0.0.1', 'DNS:localhost'],
): CertificateFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  writeFileSync(
    extensions,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${use === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(use === 'server' ? [`subjectAltName=${altNames.join(',')}`] : []),
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
    ].join('\n'),
  );
  openssl(['req', '-new', ...EC_KEY, '-keyout', files.key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '1',
    '-extfile',
    extensions,
    '-out',
    files.cert,
  ]);
  return files;
}
