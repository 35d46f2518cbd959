// `ktap --agent` (hidden): one host of a fleet. Reads the start message and bytecode on stdin,
// runs the script's handlers in a session of its own and streams updates, output and errors
// as protocol lines on stdout; stdin closing (the ssh channel gone) ends it as SIGHUP does.

import { UserError } from '../errors';
import { BadBytecodeError } from '../vm/errors';
import { DEFAULT_LIMITS, type Limits } from '../vm/limits';
import { Session, type EndReason } from '../session/session';
import { ChangeTracker, type Variable } from './changes';
import { LineSplitter, PROTOCOL_VERSION, ProtocolError, type AgentMessage, type CpuCounts, type StartMessage } from './protocol';

/** Session variables a REPL input may name at most (the REPL declares them one input at a time). */
const MAX_REPL_VARIABLES = 1 << 16;

/** Runs the agent until its session ends; the exit status says whether it ran to its end. */
export async function runAgent(version: string): Promise<number> {
  const channel = new AgentChannel();
  channel.send({ type: 'hello', protocol: PROTOCOL_VERSION, version, pid: process.pid, node: process.versions.node });
  const start = await channel.firstMessage();
  if (start === null) return 1;
  let agent: Agent;
  try {
    agent = new Agent(channel, start);
  } catch (error) {
    channel.send({ type: 'error', message: `agent: ${(error as Error).message}` });
    return 1;
  }
  return agent.run();
}

/** A REPL's input or detach, as the agent received it (checked). */
type ReplRequest = { readonly type: 'input'; readonly id: number; readonly bytecode: Buffer } | { readonly type: 'detach'; readonly handlers: readonly number[] };

/** The protocol over stdin and stdout. */
class AgentChannel {
  private readonly lines: LineSplitter;
  private waiting: ((message: StartMessage | null) => void) | null = null;
  private started = false;
  /** Told when the coordinator asks to stop, or the channel closed. */
  onStop: (() => void) | null = null;
  /** REPL requests wait here until the agent takes them (they can come in the start message's chunk). */
  private readonly requests: ReplRequest[] = [];
  private onRequest: ((request: ReplRequest) => void) | null = null;
  closed = false;

  constructor() {
    this.lines = new LineSplitter((line) => this.receive(line), () => this.fail('message over the size limit'));
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => this.lines.push(chunk));
    process.stdin.on('end', () => this.close());
    process.stdin.on('error', () => this.close());
    // A coordinator gone mid-write: nothing more can be said; end as on a hangup.
    process.stdout.on('error', () => this.close());
  }

  send(message: AgentMessage): void {
    if (this.closed) return;
    process.stdout.write(JSON.stringify(message) + '\n');
  }

  firstMessage(): Promise<StartMessage | null> {
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private receive(line: string): void {
    let message: { type?: unknown; protocol?: unknown };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return this.fail('not a JSON line');
    }
    if (!this.started) {
      if (message.type !== 'start') return this.fail(`expected a start message, got ${JSON.stringify(message.type)}`);
      if (message.protocol !== PROTOCOL_VERSION) return this.fail(`protocol ${String(message.protocol)} not supported (this agent speaks ${PROTOCOL_VERSION})`);
      this.started = true;
      this.waiting?.(message as StartMessage);
      return;
    }
    if (message.type === 'stop') return this.onStop?.();
    const request = replRequest(message as Record<string, unknown>);
    if (request === null) return this.fail(`unexpected message ${JSON.stringify(message.type)}`);
    if (this.onRequest !== null) this.onRequest(request);
    else this.requests.push(request);
  }

  /** Hands each REPL request to `handle`, those that came already first. */
  takeRequests(handle: (request: ReplRequest) => void): void {
    this.onRequest = handle;
    for (const request of this.requests.splice(0)) handle(request);
  }

  private fail(reason: string): void {
    this.send({ type: 'error', message: `agent: ${reason}` });
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lines.stop();
    this.waiting?.(null);
    this.waiting = null;
    this.onStop?.();
  }
}

class Agent {
  private readonly session: Session;
  private readonly output = new LineBuffer((text) => this.channel.send({ type: 'output', text }));
  private readonly workloadOutput = new LineBuffer((text) => this.channel.send({ type: 'workload', text }));
  private readonly tracker: ChangeTracker;
  private failed = false;

  constructor(private readonly channel: AgentChannel, private readonly start: StartMessage) {
    this.session = new Session({
      limits: agentLimits(start.limits),
      outputFd: 1,
      json: start.json,
      quiet: true,
      verbose: start.verbose,
      dryRun: start.dryRun,
      timestamps: start.timestamps,
      tier: start.tier,
      traceSelf: start.traceSelf,
      ...(start.cpu === undefined ? {} : { cpu: start.cpu }),
      scriptName: start.scriptName,
      scriptArgs: start.scriptArgs,
      command: start.command,
      captureWorkloadOutput: true,
      hostLabel: start.label,
      ...(start.bufferSizeKb === undefined ? {} : { bufferSizeKb: start.bufferSizeKb }),
    });
    // Everything the script prints travels as output messages; stdout carries only the protocol.
    this.session.writer.redirect = (text) => this.output.push(text);
    this.session.onWorkloadOutput = (text) => this.workloadOutput.push(text);
    this.session.onRuntimeError = (message) => this.error(message);
    // In the REPL a failing handler is detached and reported; the host goes on (as the local REPL does).
    if (start.interactive === true) {
      this.session.onHandlerError = (handler, error) =>
        this.channel.send({ type: 'warning', message: `[${handler.id}] ${handler.header}: error: ${error.message}; detached` });
    }
    this.tracker = new ChangeTracker(() => this.variables(), (message) => this.channel.send({ type: 'warning', message }));
  }

  async run(): Promise<number> {
    const session = this.session;
    let reason: EndReason | 'finished' = 'finished';
    this.channel.onStop = () => session.end('terminate');
    let timer: NodeJS.Timeout | null = null;
    try {
      const main = session.loadBytecode(Buffer.from(this.start.bytecode, 'base64'), this.start.sessionVariables);
      const outcome = session.runCode(main);
      if (outcome !== 'ok') reason = outcome;
      // tick-N handlers run on the coordinator, on the merged view.
      for (const handler of session.handlers.filter((candidate) => candidate.kind === 'tick')) session.detach(handler);
      if (this.start.interactive === true && outcome === 'ok' && !this.channel.closed) {
        timer = setInterval(() => this.update(false), this.start.intervalMs);
        reason = await this.interact();
      } else if (outcome === 'ok' && session.hasEventHandlers && !this.channel.closed) {
        timer = setInterval(() => this.update(false), this.start.intervalMs);
        reason = await this.trace();
      }
    } catch (error) {
      this.error(error instanceof BadBytecodeError ? `bad bytecode file: ${error.message}` : (error as Error).message);
      reason = 'error';
    } finally {
      if (timer !== null) clearInterval(timer);
      this.cpuCounts(); // the last counters, before the kernel side goes
      session.writer.flush();
      try {
        session.close();
      } catch (error) {
        this.error(`cleaning up: ${(error as Error).message}`);
      }
    }
    session.writer.flush();
    this.output.end();
    this.workloadOutput.end();
    this.update(true);
    this.channel.send({ type: 'end', reason });
    return this.failed ? 1 : 0;
  }

  /** Attaches, says so, and waits for the end of the session. */
  private trace(): Promise<EndReason> {
    this.session.onAttached = () => this.channel.send({ type: 'attached', handlers: this.session.handlers.length });
    return this.session.runEvents();
  }

  /**
   * The REPL on a fleet: runs each input the coordinator sends (its output stays here: the
   * coordinator shows its own run of the input, on the merged view), attaches what it
   * registered and says so; detaches on request; ends on stop, a closed channel, a signal
   * or exit().
   */
  private interact(): Promise<EndReason> {
    const session = this.session;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => session.end(signal === 'SIGINT' ? 'interrupt' : 'terminate'));
    this.channel.send({ type: 'attached', handlers: 0 });
    this.channel.takeRequests((request) => {
      if (session.endReason !== null) return;
      if (request.type === 'detach') {
        for (const handler of session.handlers.filter((candidate) => request.handlers.includes(candidate.id))) session.detach(handler);
        return;
      }
      this.channel.send({ type: 'ran', id: request.id, ...this.runInput(request.bytecode) });
    });
    return session.endPromise();
  }

  /** One REPL input: loaded, run with its output dropped, its trace and profile handlers attached. */
  private runInput(bytecode: Buffer): { attached: Array<[number, number]>; error?: string } {
    const session = this.session;
    const before = new Set(session.handlers.map((handler) => handler.id));
    let error: string | undefined;
    session.writer.flush();
    session.writer.redirect = () => undefined;
    session.onRuntimeError = (message) => (error ??= message);
    try {
      const outcome = session.runCode(session.loadBytecode(bytecode, true, MAX_REPL_VARIABLES));
      session.failed = false; // an input's error is the input's, not the host's
      if (outcome === 'exit') session.end('exit');
    } catch (thrown) {
      error = thrown instanceof BadBytecodeError ? `bad bytecode: ${thrown.message}` : (thrown as Error).message;
    } finally {
      session.writer.flush();
      session.writer.redirect = (text) => this.output.push(text);
      session.onRuntimeError = (message) => this.error(message);
    }
    const registered = session.handlers.filter((handler) => !before.has(handler.id));
    // tick-N handlers run on the coordinator, on the merged view.
    for (const handler of registered) if (error !== undefined || handler.kind === 'tick') session.detach(handler);
    if (error !== undefined) return { attached: [], error };
    try {
      return { attached: session.attachPending().map(({ handler, events }) => [handler.id, events]) };
    } catch (thrown) {
      if (!(thrown instanceof UserError)) throw thrown;
      return { attached: [], error: thrown.message };
    }
  }

  private error(message: string): void {
    this.failed = true;
    this.session.writer.flush();
    this.channel.send({ type: 'error', message });
  }

  private *variables(): Iterable<Variable> {
    for (const [name] of this.session.variables()) {
      const cell = this.session.variableCell(name)!;
      yield { name, read: () => cell.v };
    }
  }

  /** Sends what changed, with the per-CPU counters (`last`: the final one). */
  private update(last: boolean): void {
    this.session.writer.flush();
    const chunks = this.tracker.changes();
    const cpus = this.cpuCounts();
    // The REPL's .probes shows each handler's runs over the fleet.
    const probes = this.start.interactive === true ? this.session.stats().probes.map(({ handler, runs }) => [handler.id, runs] as const) : undefined;
    if (chunks.length === 0) chunks.push([]);
    chunks.forEach((vars, index) => {
      const final = index === chunks.length - 1;
      this.channel.send({ type: 'update', vars, ...(final ? { cpus } : {}), ...(final && probes !== undefined ? { probes } : {}), ...(final && last ? { last: true } : {}) });
    });
  }

  /** Events per CPU (the kernel tier's runs included) and lost events, from the session's stats. */
  private cpuCounts(): CpuCounts[] {
    const cpus = this.session.stats().cpus;
    if (cpus === null) return this.lastCpus;
    const { events, lost } = cpus;
    const count = Math.max(events.length, ...[...lost.keys()].map((cpu) => cpu + 1));
    const rows: CpuCounts[] = [];
    for (let cpu = 0; cpu < count; cpu++) rows.push([cpu, events[cpu] ?? 0, lost.get(cpu) ?? 0]);
    this.lastCpus = rows;
    return rows;
  }

  /** The counters as they were before the session closed its kernel side. */
  private lastCpus: CpuCounts[] = [];
}

/** An input or detach message, checked; null for anything else. */
function replRequest(message: Record<string, unknown>): ReplRequest | null {
  if (message.type === 'input' && Number.isSafeInteger(message.id) && typeof message.bytecode === 'string') {
    return { type: 'input', id: message.id as number, bytecode: Buffer.from(message.bytecode, 'base64') };
  }
  if (message.type === 'detach' && Array.isArray(message.handlers) && message.handlers.every((id) => Number.isSafeInteger(id))) {
    return { type: 'detach', handlers: message.handlers as number[] };
  }
  return null;
}

/** Limits from the start message: the defaults, with each known limit the coordinator set. */
function agentLimits(wanted: Readonly<Record<string, number>>): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof Limits>) {
    const value = wanted[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) throw new ProtocolError(`bad limit ${key}`);
    limits[key] = value;
  }
  return limits;
}

/** Cuts text into lines for output messages; an unfinished line waits for its end. */
class LineBuffer {
  private pending = '';
  constructor(private readonly send: (line: string) => void) {}

  push(text: string): void {
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop()!;
    for (const line of lines) this.send(line);
  }

  /** Sends the unfinished line, if any. */
  end(): void {
    if (this.pending.length > 0) this.send(this.pending);
    this.pending = '';
  }
}
