// One host of a fleet seen from the coordinator: the ssh process, the bundle upload, the
// protocol lines in both directions, the host's state and counters, and every way it can
// fail (ssh errors, a bad message, silence), each ending in one reason.

import type { ChildProcess } from 'node:child_process';
import type { HostSpec } from './hosts';
import {
  LineSplitter, NEED_BUNDLE_LINE, PROTOCOL_VERSION, ProtocolError, parseAgentMessage,
  type AgentMessage, type AttachedHandler, type CoordinatorMessage, type StartMessage, type VariableUpdate,
} from './protocol';
import { remoteCommand, sshArguments, startSsh, type AgentSource } from './ssh';

export type HostState = 'connecting' | 'tracing' | 'ended' | 'failed';

/** What the coordinator does with a host's messages. */
export interface HostEvents {
  update(host: HostConnection, vars: readonly VariableUpdate[]): void;
  output(host: HostConnection, text: string): void;
  workload(host: HostConnection, text: string): void;
  /** A line the remote side wrote to stderr, or a warning of the agent. */
  note(host: HostConnection, text: string): void;
  /** The host left 'connecting' or ended or failed. */
  stateChanged(host: HostConnection): void;
  /** The REPL: the agent ran an input. */
  ran?(host: HostConnection, id: number, attached: readonly AttachedHandler[], error: string | undefined): void;
}

export interface ConnectionOptions {
  readonly source: AgentSource;
  readonly connectTimeoutS: number;
  /** The start message, less what is per host. */
  readonly start: Omit<StartMessage, 'label'>;
  /** A tracing host silent for this long has failed (agents send an update every interval). */
  readonly silenceMs: number;
}

/** Until the agent says hello: ssh's own timeout, then the upload of the bundle and Node's start. */
const HELLO_GRACE_MS = 30_000;

export class HostConnection {
  state: HostState = 'connecting';
  /** Why it failed, in one line. */
  reason = '';
  /** How the agent ended ('workload', 'exit', 'terminate', …) once it said so. */
  endReason = '';
  /** Events and lost events, totals over the host's CPUs, as of the last update. */
  events = 0;
  lost = 0;
  eventsPerSecond = 0;
  /** Trace and profile handlers the agent attached. */
  attachedHandlers = 0;
  /** The REPL: runs of each handler on this host, by handler id, as of the last update. */
  readonly handlerRuns = new Map<number, number>();
  /** Protocol bytes received from the host (the bundle sent is not counted). */
  bytesReceived = 0;
  /** When the agent said it was attached, and when the host ended or failed (performance.now()). */
  tracingSince: number | null = null;
  settledAt: number | null = null;
  private lastRate: { at: number; events: number } | null = null;
  private lastMessageAt = performance.now();
  private readonly ssh: ChildProcess;
  private readonly lines: LineSplitter;
  /** ssh's (or the remote shell's) lines before the agent said hello: the reason if it never does. */
  private readonly stderrBeforeHello: string[] = [];
  private helloSeen = false;
  /** REPL requests made before the start message went: sent right after it. */
  private queued: CoordinatorMessage[] | null = [];
  private readonly watchdog: NodeJS.Timeout;
  private readonly exited: Promise<void>;

  constructor(readonly spec: HostSpec, private readonly options: ConnectionOptions, private readonly listener: HostEvents) {
    this.ssh = startSsh(sshArguments(spec, options.connectTimeoutS, remoteCommand(options.source)));
    this.exited = new Promise((resolve) => this.ssh.once('close', () => resolve()));
    this.lines = new LineSplitter((line) => this.receive(line), () => this.fail('a message over the size limit'));
    this.ssh.stdout!.setEncoding('utf8');
    this.ssh.stdout!.on('data', (chunk: string) => {
      this.bytesReceived += Buffer.byteLength(chunk);
      this.lines.push(chunk);
    });
    this.ssh.stderr!.setEncoding('utf8');
    const stderrLines = new LineSplitter((line) => this.stderrLine(line), () => undefined, 64 * 1024);
    this.ssh.stderr!.on('data', (chunk: string) => stderrLines.push(chunk));
    this.ssh.stdin!.on('error', () => undefined); // a closed channel shows as ssh's exit
    this.ssh.once('error', (error) => this.fail(`cannot run ssh: ${error.message}`));
    this.ssh.once('close', (code, signal) => {
      if (stderrLines.rest() !== '') this.stderrLine(stderrLines.rest());
      this.closed(code, signal);
    });
    const helloDeadline = performance.now() + options.connectTimeoutS * 1000 + HELLO_GRACE_MS;
    this.watchdog = setInterval(() => this.check(helloDeadline), 500);
  }

  get label(): string {
    return this.spec.label;
  }

  get settled(): boolean {
    return this.state === 'ended' || this.state === 'failed';
  }

  /** Asks the agent to stop: it drains, sends its last update and ends. */
  stop(): void {
    this.request({ type: 'stop' });
  }

  /** The REPL: an input or detach for the agent, held until the agent has been started. */
  request(message: CoordinatorMessage): void {
    if (this.settled) return;
    if (this.queued !== null) this.queued.push(message);
    else this.send(message);
  }

  /** Waits until ssh has exited; after `timeoutMs`, the host is failed and its ssh killed. */
  async finished(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.fail(`did not end within ${Math.round(timeoutMs / 1000)} s of being asked to`);
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, late]);
    clearTimeout(timer);
    await this.exited;
  }

  /** Ends the connection now: the agent sees its channel close and cleans up as on SIGHUP. */
  kill(): void {
    if (this.ssh.exitCode !== null || this.ssh.signalCode !== null || this.ssh.pid === undefined) return;
    try {
      process.kill(-this.ssh.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  private send(message: CoordinatorMessage): void {
    const stdin = this.ssh.stdin!;
    if (stdin.destroyed || !stdin.writable) return;
    stdin.write(JSON.stringify(message) + '\n');
  }

  private receive(line: string): void {
    this.lastMessageAt = performance.now();
    if (!this.helloSeen && line === NEED_BUNDLE_LINE && 'bundle' in this.options.source) {
      this.ssh.stdin!.write(this.options.source.bundle.bytes);
      return;
    }
    let message: AgentMessage;
    try {
      message = parseAgentMessage(line);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return this.fail(`bad message from the agent: ${error.message}`);
    }
    if (!this.helloSeen && message.type !== 'hello') return this.fail(`the agent spoke before saying hello (${message.type})`);
    try {
      this.handle(message);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.fail(`bad message from the agent: ${error.message}`);
    }
  }

  private handle(message: AgentMessage): void {
    switch (message.type) {
      case 'hello':
        if (this.helloSeen) throw new ProtocolError('a second hello');
        this.helloSeen = true;
        for (const line of this.stderrBeforeHello.splice(0)) this.listener.note(this, line);
        if (message.protocol !== PROTOCOL_VERSION) {
          return this.fail(`the agent speaks protocol ${message.protocol}, this ktap ${PROTOCOL_VERSION} (ktap ${message.version} there)`);
        }
        this.send({ ...this.options.start, label: this.label });
        for (const queued of this.queued ?? []) this.send(queued);
        this.queued = null;
        return;
      case 'attached':
        this.attachedHandlers = message.handlers;
        this.setState('tracing');
        return;
      case 'update':
        if (this.settled) return;
        this.listener.update(this, message.vars);
        if (message.cpus !== undefined) this.count(message.cpus);
        for (const [id, runs] of message.probes ?? []) this.handlerRuns.set(id, runs);
        return;
      case 'ran':
        return this.listener.ran?.(this, message.id, message.attached, message.error);
      case 'output':
        return this.listener.output(this, message.text);
      case 'workload':
        return this.listener.workload(this, message.text);
      case 'warning':
        return this.listener.note(this, `warning: ${message.message}`);
      case 'error':
        return this.fail(message.message);
      case 'end':
        this.endReason = message.reason;
        this.ssh.stdin!.end();
        if (!this.settled) this.setState('ended');
        return;
    }
  }

  private count(cpus: ReadonlyArray<readonly [number, number, number]>): void {
    let events = 0;
    let lost = 0;
    for (const [, cpuEvents, cpuLost] of cpus) {
      events += cpuEvents;
      lost += cpuLost;
    }
    const now = performance.now();
    if (this.lastRate !== null && now > this.lastRate.at) this.eventsPerSecond = ((events - this.lastRate.events) * 1000) / (now - this.lastRate.at);
    this.lastRate = { at: now, events };
    this.events = events;
    this.lost = lost;
  }

  private stderrLine(line: string): void {
    if (line.trim() === '') return;
    if (this.helloSeen) this.listener.note(this, line);
    else this.stderrBeforeHello.push(line.trim());
  }

  private check(helloDeadline: number): void {
    const now = performance.now();
    if (!this.helloSeen && now > helloDeadline) {
      this.fail(`no answer from the agent within ${this.options.connectTimeoutS + HELLO_GRACE_MS / 1000} s`);
    } else if (this.state === 'tracing' && now - this.lastMessageAt > this.options.silenceMs) {
      this.fail(`no message for ${Math.round((now - this.lastMessageAt) / 1000)} s: the host or its connection hangs`);
    }
  }

  private closed(code: number | null, signal: NodeJS.Signals | null): void {
    clearInterval(this.watchdog);
    if (this.settled) return;
    const status = signal !== null ? `ssh ended by ${signal}` : `ssh exited with status ${code}`;
    // Before hello, ssh's last line says why (e.g. Permission denied); after it, that line was shown already.
    const said = this.stderrBeforeHello.pop();
    for (const line of this.stderrBeforeHello) this.listener.note(this, line);
    this.fail(this.helloSeen ? `the connection closed (${status})` : said ?? `could not connect (${status})`);
  }

  /** The host has failed: one reason, its connection closed, the others go on. */
  fail(reason: string): void {
    if (this.settled) return;
    this.reason = reason;
    this.lines.stop();
    clearInterval(this.watchdog);
    this.setState('failed');
    this.kill();
  }

  private setState(state: HostState): void {
    if (this.state === state) return;
    this.state = state;
    if (state === 'tracing') this.tracingSince = performance.now();
    if (this.settled) this.settledAt = performance.now();
    this.listener.stateChanged(this);
  }
}
