// Root delegation on a Unix host: runs one command as root through the record's method (sudo,
// su, sudo su -, or a tool such as pbrun or dzdo), answering the password prompt with the
// vault's Buffer when (and only when) one is shown, and says how the delegation answered:
// the command ran (its own exit code and output), or the delegation refused it, with the
// catalogue's code. The password goes through the channel, never onto a command line, and is
// given once: a second prompt means it was refused, and the process is killed at that prompt
// so the host counts one failed authentication, not two (sudo would ask again, and a prompt
// left unanswered or closed is counted as a failure by pam_faillock).
import type { Client, ClientChannel, PseudoTtyOptions } from 'ssh2';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import type { DelegationMethod } from '../../technologies/unix.js';

/** sudo's prompt (-p), one nothing else prints, so it is told from any output. */
const SUDO_PROMPT = 'vaultscan-delegation-password:';
/** Any other tool's prompt (su's "Password: ", dzdo's "[dzdo] password for scanner: "), at the end of what it printed. */
const GENERIC_PROMPT = /password[^\n]*:\s*$/i;
/** How much of the latest output a prompt is looked for in. */
const PROMPT_WINDOW = 1024;
/**
 * How long a prompt must stay the last thing printed before it is answered. PAM's terminal
 * conversation (su's) prints the prompt first and then sets the terminal up with TCSAFLUSH,
 * which throws away input that came in between: an answer sent at once can lose its password
 * and keep its newline, an empty password that counts as a failed one (pexpect waits too).
 */
const ANSWER_DELAY_MS = 150;
/**
 * The pseudo-terminal where one is needed (su; sudo under requiretty; delegation tools): no echo
 * from the start (tools turn it off for the prompt themselves; this covers one that does not),
 * and a terminal type that asks for no colours or cursor control.
 */
const PTY: PseudoTtyOptions = { term: 'dumb', rows: 24, cols: 200, modes: { ECHO: 0 } };

export interface DelegationPlan {
  method: DelegationMethod;
  /** method command: the tool and its arguments (checked: technologies/unix.ts DELEGATION_COMMAND). */
  command?: string;
  /** methods su and sudo-su: the account su switches to. */
  suUser: string;
  /** The password the delegation is answered with, if it asks: the vault's own Buffer. */
  password: Buffer | undefined;
}

export type Delegated =
  | {
      ran: true;
      exitCode: number | null;
      stdout: string;
      /** What the command said on stderr (on a terminal, that is in stdout). */
      stderr: string;
    }
  | {
      ran: false;
      code: ErrorCode;
      message: string;
      /** The delegation works, but refused this command: the account lacks the right to it. */
      commandRefused: boolean;
    };

interface Conversation {
  exitCode: number | null;
  exitSignal: string | undefined;
  stdout: string;
  stderr: string;
  /** A prompt came after the password was given: it was refused (the process was killed there). */
  promptedAgain: boolean;
  /** A prompt came and there was no password to give (the process was killed there). */
  promptedWithout: boolean;
}

/** Overwrites any copy of the secret in output (a tool that echoed it), in place, before it becomes text. */
function redact(buffer: Buffer, secret: Buffer | undefined): Buffer {
  if (!secret?.length) return buffer;
  for (let at = buffer.indexOf(secret); at >= 0; at = buffer.indexOf(secret, at + secret.length))
    buffer.fill(0x2a, at, at + secret.length);
  return buffer;
}

/** Terminal output as lines: CR LF as LF, lone CRs dropped. */
const fromTerminal = (text: string) => text.replace(/\r+\n/g, '\n').replace(/\r/g, '');

/**
 * Runs one command and holds its side of a password conversation: the password is written when
 * a prompt shows, once; a second prompt (or a prompt without a password to give) kills the
 * process there. A timeout, a closed connection or a cancelled scan end it early (ScanError
 * COLLECTION_FAILED, as any command's).
 */
function converse(
  client: Client,
  command: string,
  options: { pty: boolean; prompt: RegExp; password: Buffer | undefined; timeoutMs: number; signal?: AbortSignal },
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted)
      return reject(new ScanError('COLLECTION_FAILED', 'the scan was cancelled before a command ran'));
    client.exec(command, options.pty ? { pty: PTY } : {}, (err, channel: ClientChannel) => {
      if (err) return reject(new ScanError('COLLECTION_FAILED', `could not run a command on the host: ${err.message}`));
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      /** Everything printed since the password was given (or since the start), both streams. */
      let recent: Buffer[] = [];
      let answered = false;
      let promptedAgain = false;
      let promptedWithout = false;
      let exitCode: number | null = null;
      let exitSignal: string | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let answerTimer: NodeJS.Timeout | undefined;
      const cleanUp = () => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        clearTimeout(answerTimer);
        client.off('close', onConnectionClosed);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const stop = (reason: string) => {
        cleanUp();
        channel.close();
        reject(new ScanError('COLLECTION_FAILED', reason));
      };
      const onConnectionClosed = () => stop('the SSH connection closed while a command ran');
      const onAbort = () => stop('the scan was cancelled while a command ran');
      const timer = setTimeout(
        () => stop(`a command did not finish within ${options.timeoutMs} ms`),
        options.timeoutMs,
      );
      client.once('close', onConnectionClosed);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      /** Ends the process where it waits for a password (sshd signals its process group), then the channel. */
      const kill = () => {
        if (killTimer) return;
        channel.signal('KILL');
        // A server that does not take signals: closing the channel ends it all the same.
        killTimer = setTimeout(() => channel.close(), 1_000);
      };
      /** Answers the prompt that is the last thing printed: the password once, then never again. */
      const answer = () => {
        recent = [];
        if (answered) {
          promptedAgain = true;
          kill();
        } else if (!options.password?.length) {
          promptedWithout = true;
          kill();
        } else {
          answered = true;
          // The vault's Buffer as it is: ssh2 copies its bytes into the outgoing packet.
          channel.write(options.password);
          channel.write('\n');
        }
      };
      const onOutput = (chunk: Buffer) => {
        if (killTimer) return;
        clearTimeout(answerTimer);
        recent.push(chunk);
        const window = Buffer.concat(recent);
        const tail = redact(Buffer.from(window.subarray(-PROMPT_WINDOW)), options.password).toString('utf8');
        if (options.prompt.test(tail)) answerTimer = setTimeout(answer, ANSWER_DELAY_MS);
      };
      channel.on('data', (d: Buffer) => {
        out.push(d);
        onOutput(d);
      });
      channel.stderr.on('data', (d: Buffer) => {
        errOut.push(d);
        onOutput(d);
      });
      channel.on('exit', (code: number | null, signalName?: string) => {
        exitCode = code;
        exitSignal = signalName ?? undefined;
      });
      channel.on('close', () => {
        cleanUp();
        const text = (parts: Buffer[]) => fromTerminal(redact(Buffer.concat(parts), options.password).toString('utf8'));
        resolve({
          exitCode,
          exitSignal,
          stdout: text(out),
          stderr: text(errOut),
          promptedAgain,
          promptedWithout,
        });
      });
    });
  });
}

/** The first line that matches, cut short: what a tool said, for a cause (never anything typed). */
function firstLine(text: string, pattern: RegExp): string | undefined {
  const line = text.split('\n').find((l) => pattern.test(l));
  return line?.trim().slice(0, 200);
}

/** What the delegation said, when it said no. */
type Answer =
  | { kind: 'ran' }
  | { kind: 'needs-tty' }
  | { kind: 'refused'; code: ErrorCode; message: string; commandRefused?: boolean };

const refused = (code: ErrorCode, message: string, commandRefused = false): Answer => ({
  kind: 'refused',
  code,
  message,
  commandRefused,
});

/** sudo's own answers (also dzdo's, which speaks sudo's words). */
function sudoAnswer(
  talk: Conversation,
  said: string,
  tool: string,
  hadPassword: boolean,
  onPty: boolean,
): Answer | undefined {
  if (talk.promptedAgain || /Sorry, try again|incorrect password attempt/i.test(said))
    return refused(
      'DELEGATION_PASSWORD_REJECTED',
      `${tool} did not accept the root-delegation password (given once; ${tool} was stopped at its next prompt, so the host counted one failed attempt)`,
    );
  if (/you must have a tty|no tty present|a terminal is required/i.test(said))
    return onPty
      ? refused('PRIVILEGE_ESCALATION_FAILED', `${tool} wants a terminal even on a pseudo-terminal`)
      : { kind: 'needs-tty' };
  if (/a password is required/i.test(said) || talk.promptedWithout)
    return refused(
      'DELEGATION_PASSWORD_MISSING',
      hadPassword
        ? `${tool} asks for a password it was not given`
        : `${tool} asks for a password, and the vault gave none for it (no rootPassword or password field); without one, ${tool} does not say whether the account may use it at all`,
    );
  if (/is not in the sudoers file|is not allowed to run sudo|may not run sudo|not in the \w+ers file/i.test(said))
    return refused(
      'DELEGATION_NOT_CONFIGURED',
      `${tool} refused: the account may not use ${tool} on this host (${firstLine(said, /not in the|not allowed to run|may not run/i)})`,
    );
  if (/is not allowed to execute/i.test(said))
    return refused(
      'DELEGATION_RIGHTS_MISSING',
      `${tool} refused the command: ${firstLine(said, /not allowed to execute/i)}`,
      true,
    );
  return undefined;
}

/** su's own answers (util-linux and shadow su alike). */
function suAnswer(talk: Conversation, said: string, suUser: string): Answer | undefined {
  if (talk.promptedAgain || /^su: .*(Authentication failure|incorrect password)/im.test(said))
    return refused(
      'DELEGATION_PASSWORD_REJECTED',
      `su did not accept the root password for ${suUser} (given once: su does not ask again)`,
    );
  // A PAM stack with pam_faillock (RHEL's) answers a wrong password so, and pam_wheel an account
  // that may not su: su says the same for both, and the password was given (and counted) either way.
  if (/^su: .*Permission denied/im.test(said))
    return refused(
      'DELEGATION_PASSWORD_REJECTED',
      `su refused (Permission denied) after the root password for ${suUser} was given once: the password was not accepted, or the account may not use su on this host (pam_wheel); su does not say which`,
    );
  if (
    /^su: .*(does not exist|unknown|must be run from a terminal|not allowed)/im.test(said) ||
    /currently not available/i.test(said)
  )
    return refused(
      'DELEGATION_NOT_CONFIGURED',
      `su to ${suUser} is not possible for the account on this host (${firstLine(said, /^su: |not available/i)})`,
    );
  if (/^su: /im.test(said)) return refused('PRIVILEGE_ESCALATION_FAILED', `su failed: ${firstLine(said, /^su: /i)}`);
  return undefined;
}

/** How a delegated command ended: ran, refused (which way), or to be run again on a terminal. */
function answerOf(plan: DelegationPlan, talk: Conversation, onPty: boolean): Answer {
  // On a terminal both streams are one; sudo and su print their refusals on stderr otherwise.
  // sudo's prompt has no newline after it: a refusal would follow it on the same line.
  const said = `${talk.stderr}\n${onPty ? talk.stdout : ''}`.replaceAll(SUDO_PROMPT, `${SUDO_PROMPT}\n`);
  const tool = plan.method === 'command' ? plan.command!.split(' ')[0]! : plan.method === 'su' ? 'su' : 'sudo';
  const toolName = tool.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  if (talk.exitCode === 127 && new RegExp(`${toolName}'?: (command )?not found|'${toolName}': No such file`).test(said))
    return refused('DELEGATION_NOT_CONFIGURED', `${tool} is not installed on this host (or not on the account's PATH)`);
  const hadPassword = Boolean(plan.password?.length);
  const answer =
    plan.method === 'su'
      ? suAnswer(talk, said, plan.suUser)
      : (sudoAnswer(talk, said, tool, hadPassword, onPty) ??
        (plan.method === 'sudo-su' ? suAnswer(talk, said, plan.suUser) : undefined));
  if (answer) return answer;
  if (plan.method === 'command') {
    if (talk.promptedAgain || /authentication fail/i.test(said))
      return refused(
        'DELEGATION_PASSWORD_REJECTED',
        `${tool} did not accept the root-delegation password (given once)`,
      );
    const denial = firstLine(said, /reject|denied|not allowed|not permitted|not authori[sz]ed/i);
    if (denial && talk.exitCode !== 0)
      return refused('DELEGATION_RIGHTS_MISSING', `${tool} refused the command: ${denial}`, true);
  }
  if (talk.exitSignal === 'KILL' && !talk.promptedAgain)
    return refused('PRIVILEGE_ESCALATION_FAILED', `${tool} was stopped while it waited for input`);
  // sudo's own failures (PAM errors, an expired account, …) end it with its name before the line.
  const own = plan.method !== 'su' && plan.method !== 'command' ? firstLine(said, /^sudo: /) : undefined;
  if (own && talk.exitCode !== 0 && !talk.stdout.trim())
    return refused('PRIVILEGE_ESCALATION_FAILED', `sudo failed: ${own}`);
  return { kind: 'ran' };
}

/** The command line that runs `command` (absolute paths and fixed arguments, nothing quoted) as root. */
function delegatedLine(plan: DelegationPlan, command: string): string {
  if (!/^[A-Za-z0-9._+=:,@/ -]+$/.test(command)) throw new Error(`not a command delegation may run: ${command}`);
  // Messages in English (they are read here), whatever the host's locale.
  const sudo = plan.password?.length ? `sudo -S -k -p '${SUDO_PROMPT}' --` : 'sudo -n -k --';
  switch (plan.method) {
    case 'sudo':
      return `env LC_ALL=C ${sudo} ${command}`;
    case 'sudo-su':
      return `env LC_ALL=C ${sudo} su - ${plan.suUser} -c '${command}'`;
    case 'su':
      return `env LC_ALL=C su - ${plan.suUser} -c '${command}'`;
    case 'command':
      return `env LC_ALL=C ${plan.command} ${command}`;
  }
}

/**
 * Runs commands as root through one delegation plan, for one session. sudo runs without a
 * terminal until the host says it needs one (Defaults requiretty), then on a pseudo-terminal
 * for the rest of the session; su and delegation tools always have one.
 */
export class Delegation {
  private onPty: boolean;
  constructor(
    private readonly client: Client,
    private readonly plan: DelegationPlan,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.onPty = plan.method === 'su' || plan.method === 'command';
  }

  get usedPty(): boolean {
    return this.onPty;
  }

  async run(command: string): Promise<Delegated> {
    const line = delegatedLine(this.plan, command);
    const prompt =
      this.plan.method === 'sudo' || this.plan.method === 'sudo-su'
        ? new RegExp(`${SUDO_PROMPT}\\s*$`)
        : GENERIC_PROMPT;
    for (;;) {
      const talk = await converse(this.client, line, {
        pty: this.onPty,
        prompt,
        password: this.plan.password,
        timeoutMs: this.timeoutMs,
        signal: this.signal,
      });
      const answer = answerOf(this.plan, talk, this.onPty);
      if (answer.kind === 'needs-tty') {
        this.onPty = true;
        continue;
      }
      if (answer.kind === 'refused')
        return {
          ran: false,
          code: answer.code,
          message: answer.message,
          commandRefused: answer.commandRefused ?? false,
        };
      // On a terminal the prompt and the newline after the answer come first: the output follows the last prompt.
      const stdout = this.onPty ? talk.stdout.slice(Math.max(0, lastPromptEnd(talk.stdout, prompt))) : talk.stdout;
      // sudo's prompt (on stderr without a terminal) is not the command's.
      return { ran: true, exitCode: talk.exitCode, stdout, stderr: talk.stderr.replaceAll(SUDO_PROMPT, '') };
    }
  }
}

/** Where the output after the (last) password prompt begins, or 0 when none was shown. */
function lastPromptEnd(text: string, prompt: RegExp): number {
  let end = 0;
  const lines = text.split('\n');
  let offset = 0;
  for (const line of lines) {
    offset += line.length + 1;
    if (prompt.test(line)) end = offset;
  }
  return end;
}
