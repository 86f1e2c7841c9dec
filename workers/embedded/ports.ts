// The ports `npm start` listens on, and the check it makes before it touches the data folder:
// a port someone else holds stops the start with one sentence that says what to do.
import { portHolders } from '../../runtime/listening-sockets.js';
import { listenError } from '../../runtime/net.js';

export interface PortNeed {
  host: string;
  port: number;
  /** What listens there, for the message. */
  neededBy: string;
  /** The setting that moves it elsewhere. */
  variable: string;
  /** The setting that names the address, where one does. */
  hostVariable?: string;
}

const DEFAULTS = { VAULTSCAN_API_PORT: 8800, VAULTSCAN_TEMPORAL_PORT: 7233, VAULTSCAN_TEMPORAL_UI_PORT: 8233 };

/** A port setting's value; a sentence when it is not a port number. */
export function portSetting(env: NodeJS.ProcessEnv, variable: keyof typeof DEFAULTS): number {
  const text = env[variable];
  if (text === undefined || text === '') return DEFAULTS[variable];
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${variable} must be a port number from 1 to 65535, not "${text}": set it to a free port.`);
  return port;
}

/** Every port the embedded stack listens on, read from the settings main.ts reads. */
export function embeddedPortNeeds(env: NodeJS.ProcessEnv, apiHost: string): PortNeed[] {
  const needs: PortNeed[] = [
    {
      host: apiHost,
      port: portSetting(env, 'VAULTSCAN_API_PORT'),
      neededBy: 'the API',
      variable: 'VAULTSCAN_API_PORT',
      hostVariable: 'VAULTSCAN_API_HOST',
    },
  ];
  // With TEMPORAL_ADDRESS the stack uses that cluster and runs no dev server of its own.
  if (!env.TEMPORAL_ADDRESS)
    needs.push(
      {
        host: '127.0.0.1',
        port: portSetting(env, 'VAULTSCAN_TEMPORAL_PORT'),
        neededBy: "the Temporal dev server's frontend",
        variable: 'VAULTSCAN_TEMPORAL_PORT',
      },
      {
        host: '127.0.0.1',
        port: portSetting(env, 'VAULTSCAN_TEMPORAL_UI_PORT'),
        neededBy: 'the Temporal Web UI',
        variable: 'VAULTSCAN_TEMPORAL_UI_PORT',
      },
    );
  return needs;
}

/** One sentence about the first port that cannot be used, or undefined when all are free. */
export async function unavailablePort(needs: PortNeed[]): Promise<string | undefined> {
  for (const [i, need] of needs.entries()) {
    const twin = needs.slice(0, i).find((other) => other.port === need.port);
    if (twin)
      return `${twin.variable} and ${need.variable} both name port ${need.port}: give ${need.neededBy} a port of its own.`;
  }
  for (const need of needs) {
    const err = await listenError(need.host, need.port);
    if (!err) continue;
    const where = `port ${need.port} on ${need.host}, which ${need.neededBy} needs,`;
    if (err.code === 'EADDRINUSE') {
      const holders = portHolders(need.port);
      const who = holders.length
        ? `another program (${holders.map((h) => `pid ${h.pid}: ${h.command}`).join('; ')})`
        : 'another program';
      return `${where} is taken by ${who}: stop that program, or set ${need.variable} to a free port.`;
    }
    if (err.code === 'EADDRNOTAVAIL' && need.hostVariable)
      return `${need.host}, where ${need.neededBy} should listen, is not an address of this machine: set ${need.hostVariable} to one of its addresses (127.0.0.1 by default).`;
    if (err.code === 'EACCES')
      return `${where} needs privileges this user lacks: set ${need.variable} to a port above 1023.`;
    return `${where} cannot be listened on (${err.code ?? err.message}): set ${need.variable} to a free port.`;
  }
  return undefined;
}
