// A CyberArk Central Credential Provider (AIM web service) for tests: HTTPS on 127.0.0.1 behind
// an "IIS" that wants a client certificate, GET /AIMWebService/api/Accounts with CCP's query
// parameters (any case, Query= overriding the rest, Folder defaulting to Root), CCP's answer
// (Content plus the account's properties, PasswordChangeInProcess as the string "True"/"False")
// and CCP's errors ({"ErrorCode","ErrorMsg"} with the APPAP/AIMWS/CASVL codes and statuses of
// vault-apis.md §2.6). Applications authenticate by client certificate (CN) and/or by allowed
// machine; each has the safes it is a member of. Switches produce every failure a test needs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCa, issueCertificate, type CertificateFiles } from '../harness/tls-certs.js';

export interface CcpAccount {
  Safe: string;
  Folder?: string;
  /** The object name. */
  Name: string;
  Content: string;
  UserName?: string;
  Address?: string;
  Database?: string;
  PolicyID?: string;
  /** The CPM is changing this password right now. */
  changing?: boolean;
  /** More account properties (custom ones, e.g. a key's passphrase). */
  properties?: Record<string, string>;
}

export interface CcpApplication {
  appId: string;
  /** Authenticates by client certificate: the CN it must present. */
  certCn?: string;
  /** Authenticates by allowed machine: the addresses it may call from. */
  allowedMachines?: string[];
  /** The safes the application (and the provider) are members of. */
  safes: string[];
}

/** The failures the fake produces on demand, for every request until switched back to 'none'. */
export type CcpFault =
  | 'none'
  | 'notFound'
  | 'ambiguous'
  | 'authFailed'
  | 'windowsAuth'
  | 'vaultDown'
  | 'changeInProgress'
  | 'badQuery'
  | 'missingAppId'
  | 'malformed'
  | 'badCharacters'
  | 'unknownCode'
  | 'throttled'
  | 'unavailable'
  | 'html'
  | 'noContent'
  | 'garbage'
  | 'slow';

export interface CcpFakeOptions {
  /**
   * How the IIS in front treats a caller without a client certificate: 'handshake' fails the TLS
   * handshake, 'iis403' answers 403.7 before CCP runs, 'optional' lets CCP decide (allowed machines).
   */
  clientCertificate?: 'handshake' | 'iis403' | 'optional';
  applications: CcpApplication[];
  accounts: CcpAccount[];
}

export interface CcpFake {
  url: string;
  /** The CA that signed the server and the client certificates (PEM), and its file. */
  caCert: string;
  caFile: string;
  /** A client certificate with CN "vaultscan-scanner", and one with CN "someone-else". */
  client: { cert: string; key: string; files: CertificateFiles };
  otherClient: { cert: string; key: string; files: CertificateFiles };
  /** Switches. */
  fault: CcpFault;
  retryAfterSeconds: number;
  slowMs: number;
  /** Field-name leniency: ErrorMessage instead of ErrorMsg, PasswordChangeInProcess as a bool, "Username". */
  errorField: 'ErrorMsg' | 'ErrorMessage';
  changeFlagAsBool: boolean;
  /** Behave like a server that ignores FailRequestOnPasswordChange (answers 200, flag set). */
  ignoreFailRequestOnPasswordChange: boolean;
  userNameKey: 'UserName' | 'Username';
  accounts: CcpAccount[];
  /** Passwords handed out (200 answers with Content). */
  reads: number;
  /** Every request's raw query string and the CN of its client certificate, if any. */
  requests: { query: string; cn?: string; address?: string }[];
  close(): Promise<void>;
}

/** CCP's query parameters, names matched without regard to case. */
function parameters(url: URL): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of url.searchParams) out.set(k.toLowerCase(), v);
  return out;
}

const SEARCH_KEYS = ['safe', 'folder', 'object', 'username', 'address', 'database', 'policyid'] as const;
type SearchKey = (typeof SEARCH_KEYS)[number];

function accountValue(a: CcpAccount, key: SearchKey): string | undefined {
  switch (key) {
    case 'safe':
      return a.Safe;
    case 'folder':
      return a.Folder ?? 'Root';
    case 'object':
      return a.Name;
    case 'username':
      return a.UserName;
    case 'address':
      return a.Address;
    case 'database':
      return a.Database;
    case 'policyid':
      return a.PolicyID;
  }
}

/** The search terms: Query=Prop=value;Prop=value overrides Safe, Folder, Object and the rest. */
function searchTerms(params: Map<string, string>): Map<SearchKey, string> {
  const terms = new Map<SearchKey, string>();
  const query = params.get('query');
  if (query !== undefined) {
    for (const part of query.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const key = part.slice(0, eq).trim().toLowerCase();
      if ((SEARCH_KEYS as readonly string[]).includes(key)) terms.set(key as SearchKey, part.slice(eq + 1));
    }
    return terms;
  }
  for (const key of SEARCH_KEYS) {
    const v = params.get(key);
    if (v !== undefined && v !== '') terms.set(key, v);
  }
  if (terms.size > 0 && !terms.has('folder')) terms.set('folder', 'Root');
  return terms;
}

const describeQuery = (terms: Map<SearchKey, string>) =>
  SEARCH_KEYS.filter((k) => terms.has(k))
    .map((k) => [k, terms.get(k) ?? ''] as const)
    .map(
      ([k, v]) =>
        `${{ safe: 'Safe', folder: 'Folder', object: 'Object', username: 'Username', address: 'Address', database: 'Database', policyid: 'PolicyID' }[k]}=${v}`,
    )
    .join(';');

export async function startCcpFake(options: CcpFakeOptions): Promise<CcpFake> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-ccp-'));
  const ca = createCa(dir, 'ccp-test-ca');
  const serverCert = issueCertificate(ca, dir, 'ccp-server', 'server');
  const clientFiles = issueCertificate(ca, dir, 'vaultscan-scanner', 'client');
  const otherFiles = issueCertificate(ca, dir, 'someone-else', 'client');
  const mode = options.clientCertificate ?? 'handshake';
  const read = (f: string) => readFileSync(f, 'utf8');

  const fake: CcpFake = {
    url: '',
    caCert: read(ca.cert),
    caFile: ca.cert,
    client: { cert: read(clientFiles.cert), key: read(clientFiles.key), files: clientFiles },
    otherClient: { cert: read(otherFiles.cert), key: read(otherFiles.key), files: otherFiles },
    fault: 'none',
    retryAfterSeconds: 1,
    slowMs: 2000,
    errorField: 'ErrorMsg',
    changeFlagAsBool: false,
    ignoreFailRequestOnPasswordChange: false,
    userNameKey: 'UserName',
    accounts: options.accounts,
    reads: 0,
    requests: [],
    close: async () => undefined,
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-powered-by': 'ASP.NET' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    json(res, status, { ErrorCode: code, [fake.errorField]: message });
  const iisPage = (res: ServerResponse, status: number, title: string) => {
    res.writeHead(status, { 'content-type': 'text/html', server: 'Microsoft-IIS/10.0' });
    res.end(
      `<!DOCTYPE html><html><head><title>${title}</title></head><body><div id="header"><h1>Server Error</h1></div><h2>${title}</h2></body></html>`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const cn = socket.authorized && peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
    const url = new URL(req.url ?? '/', 'https://ccp');
    const address = socket.remoteAddress?.replace(/^::ffff:/, '');
    fake.requests.push({ query: url.search.slice(1), ...(cn && { cn }), ...(address && { address }) });

    // IIS first: the certificate it demands, the application path, the method.
    if (mode === 'iis403' && !socket.authorized)
      return iisPage(res, 403, '403.7 - Forbidden: Client certificate required.');
    if (url.pathname.toLowerCase() !== '/aimwebservice/api/accounts')
      return iisPage(res, 404, '404 - File or directory not found.');
    if (req.method !== 'GET') return iisPage(res, 405, '405 - HTTP verb used to access this page is not allowed.');

    const fault = fake.fault;
    if (fault === 'slow') await new Promise((r) => setTimeout(r, fake.slowMs));
    if (fault === 'throttled') {
      res.writeHead(429, { 'retry-after': String(fake.retryAfterSeconds), 'content-type': 'text/plain' });
      return res.end('Too Many Requests');
    }
    if (fault === 'windowsAuth')
      return iisPage(res, 401, '401.2 - Unauthorized: Access is denied due to server configuration.');
    if (fault === 'unavailable') return iisPage(res, 503, 'HTTP Error 503. The service is unavailable.');
    if (fault === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html><body><form action="/PasswordVault/auth/">Sign in</form></body></html>');
    }
    if (fault === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"Content": "unterminated');
    }

    const params = parameters(url);
    const appId = params.get('appid');
    if (fault === 'missingAppId' || !appId)
      return error(res, 400, 'AIMWS031E', 'Invalid query format or missing AppID parameter.');
    const terms = searchTerms(params);
    if (fault === 'badQuery' || terms.size === 0)
      return error(
        res,
        400,
        'AIMWS030E',
        'Invalid query format. At least one search criterion besides AppID is required.',
      );
    if (fault === 'malformed') return error(res, 400, 'APPAP081E', 'Request message content is invalid.');
    const userName = terms.get('username');
    if (fault === 'badCharacters' || (userName !== undefined && /[\\/:*?"<>|]/.test(userName)))
      return error(res, 400, 'CASVL010E', 'Invalid characters in User Name.');
    if (fault === 'vaultDown')
      return error(
        res,
        400,
        'APPAP007E',
        'Connection to the Vault has failed (Diagnostic Info: 2). Please check the Vault address and that the Vault is running.',
      );
    if (fault === 'unknownCode') return error(res, 400, 'APPAP999E', 'Something CyberArk added later.');

    // The application: is it defined, and did it authenticate the way it is configured to?
    const app = options.applications.find((a) => a.appId.toLowerCase() === appId.toLowerCase());
    if (!app)
      return error(
        res,
        403,
        'APPAP008E',
        `Problem occurred while trying to use user [${appId}] from the Vault (Diagnostic Info: 9). Please check that the user is defined in the Vault. ITATS982E User ${appId} is not defined.`,
      );
    const certOk = app.certCn === undefined || cn === app.certCn;
    const machineOk =
      app.allowedMachines === undefined || (address !== undefined && app.allowedMachines.includes(address));
    if (fault === 'authFailed' || !certOk || !machineOk)
      return error(
        res,
        403,
        'APPAP306E',
        `Application [${app.appId}] failed to authenticate (Diagnostic Info: 48). Please check the authentication methods of the application.`,
      );

    const what = describeQuery(terms);
    const notFound = () =>
      error(
        res,
        404,
        'APPAP004E',
        `Password object matching query [${what}] was not found (Diagnostic Info: 5). Please check that there is a password object that answers your query in the Vault and that both the Provider and the application user have the appropriate permissions needed in order to use the password.`,
      );
    const tooMany = () =>
      error(
        res,
        400,
        'APPAP227E',
        `Too many password objects matching query [${what}] were found (Diagnostic Info: 41). Please make the query more specific.`,
      );
    if (fault === 'notFound') return notFound();
    if (fault === 'ambiguous') return tooMany();
    const matches = fake.accounts.filter(
      (a) =>
        app.safes.some((s) => s.toLowerCase() === a.Safe.toLowerCase()) &&
        [...terms].every(([k, v]) => {
          const have = accountValue(a, k);
          return have !== undefined && (k === 'object' ? have === v : have.toLowerCase() === v.toLowerCase());
        }),
    );
    if (matches.length === 0) return notFound();
    if (matches.length > 1) return tooMany();
    const account = matches[0] as CcpAccount;
    const changing = fault === 'changeInProgress' || account.changing === true;
    const failOnChange = params.get('failrequestonpasswordchange')?.toLowerCase() === 'true';
    if (changing && failOnChange && !fake.ignoreFailRequestOnPasswordChange)
      return error(
        res,
        500,
        'APPAP282E',
        `Password object [${account.Name}] is being changed by the CPM. The request failed because FailRequestOnPasswordChange was set (Diagnostic Info: 12).`,
      );

    const body: Record<string, unknown> = {
      ...(fault !== 'noContent' && { Content: account.Content }),
      ...(account.UserName !== undefined && { [fake.userNameKey]: account.UserName }),
      ...(account.Address !== undefined && { Address: account.Address }),
      ...(account.Database !== undefined && { Database: account.Database }),
      PasswordChangeInProcess: fake.changeFlagAsBool ? changing : changing ? 'True' : 'False',
      Safe: account.Safe,
      Folder: account.Folder ?? 'Root',
      Name: account.Name,
      ...(account.PolicyID !== undefined && { PolicyID: account.PolicyID }),
      DeviceType: 'Operating System',
      CreationMethod: 'PVWA',
      CPMDisabled: '',
      ...account.properties,
    };
    if (body.Content !== undefined) fake.reads++;
    return json(res, 200, body);
  };

  const server: Server = createServer(
    {
      key: readFileSync(serverCert.key),
      cert: readFileSync(serverCert.cert),
      ca: readFileSync(ca.cert),
      requestCert: true,
      rejectUnauthorized: mode === 'handshake',
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  fake.url = `https://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      });
    });
  return fake;
}
