import { createServer, connect } from 'node:net';
import { listensOn, portHolders } from './listening-sockets.js';

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Why host:port cannot be listened on right now (EADDRINUSE: someone else listens), or undefined when it can. */
export function listenError(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Whether host:port accepts a TCP connection right now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once host:port accepts a TCP connection, or rejects after timeoutMs. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`the process meant to listen on ${host}:${port} exited`);
    if (await accepts(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

export interface OwnListenerWait {
  /** The process that must be the one listening. */
  pid: number;
  host: string;
  port: number;
  timeoutMs: number;
  isAlive: () => boolean;
  /** Gives up at once when aborted (a stop asked for while starting). */
  signal?: AbortSignal;
}

/**
 * Resolves once process pid itself listens on the port: another program listening there does
 * not count, so a server left over from an earlier run is never taken for the one just started.
 * Where /proc cannot tell who listens (not Linux), a connection accepted while pid lives counts.
 */
export async function waitForOwnListener(wait: OwnListenerWait): Promise<void> {
  const { pid, host, port } = wait;
  const deadline = Date.now() + wait.timeoutMs;
  while (Date.now() < deadline) {
    if (wait.signal?.aborted) throw new Error(`stopped while waiting for ${host}:${port}`);
    if (!wait.isAlive()) throw new Error(`the process meant to listen on ${host}:${port} exited`);
    const own = listensOn(pid, port);
    if (own === true || (own === undefined && (await accepts(host, port)))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const others = portHolders(port).filter((holder) => holder.pid !== pid);
  throw new Error(
    others.length
      ? `${host}:${port} is held by another program (${others.map((h) => `pid ${h.pid}: ${h.command}`).join('; ')}), not by the process started for it (pid ${pid})`
      : `process ${pid} does not listen on ${host}:${port} after ${wait.timeoutMs} ms`,
  );
}
