// The coordinator of a fleet (`ktap --hosts`): one connection per host, their updates merged
// into the session's own variables (where tick-N and trace_end run), their output printed with
// its host, their failures reported one line each, and the end of the run decided.

import type { Session } from '../session/session';
import type { HostRow } from '../tui/model';
import { jsonString } from '../session/output';
import { HostConnection, type ConnectionOptions, type HostEvents } from './connection';
import type { HostSpec } from './hosts';
import { FleetMerge } from './merge';
import type { AttachedHandler, CoordinatorMessage, VariableUpdate } from './protocol';

export interface FleetOptions extends ConnectionOptions {
  readonly hosts: readonly HostSpec[];
  readonly quiet: boolean;
  readonly verbose: boolean;
}

export class Fleet implements HostEvents {
  readonly connections: HostConnection[] = [];
  private readonly merge: FleetMerge;
  private bannerShown = false;
  private reportedProblems = 0;
  /** Where ktap's own lines about hosts go (failures, notes): stderr, or the REPL above its prompt. */
  report: (line: string) => void = (line) => process.stderr.write(line + '\n');
  /** The REPL: an agent ran an input. */
  onRan: ((host: HostConnection, id: number, attached: readonly AttachedHandler[], error: string | undefined) => void) | null = null;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly session: Session, private readonly options: FleetOptions) {
    this.merge = new FleetMerge(session.rt, (name) => {
      const cell = session.variableCell(name);
      return cell === undefined ? undefined : { get: () => cell.v, set: (value) => (cell.v = value) };
    }, options.hosts.map((host) => host.label));
  }

  /** Connects to every host at once. */
  start(): void {
    for (const spec of this.options.hosts) this.connections.push(new HostConnection(spec, this.options, this));
  }

  /** Resolves once no host is connecting any more (each is tracing, ended or failed). */
  ready(): Promise<void> {
    if (this.allConnected()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** The REPL: a request for every agent (held for a host until it is started). */
  broadcast(message: CoordinatorMessage): void {
    for (const host of this.connections) host.request(message);
  }

  /** The REPL: runs of a handler over every host, as of their last updates. */
  handlerRuns(id: number): number {
    return this.connections.reduce((sum, host) => sum + (host.handlerRuns.get(id) ?? 0), 0);
  }

  /** Whether any host failed (the exit status says so). */
  get anyFailed(): boolean {
    return this.connections.some((host) => host.state === 'failed');
  }

  /** Stops every agent still running and waits for their last updates (a late one is failed and cut off). */
  async finish(): Promise<void> {
    const timeoutMs = 10_000 + 2 * this.options.start.intervalMs;
    for (const host of this.connections) if (!host.settled) host.stop();
    await Promise.all(this.connections.map((host) => host.finished(timeoutMs)));
    this.session.writer.flush();
    if (this.options.verbose) for (const host of this.connections) this.report(`ktap: [${host.label}] ${summary(host)}`);
  }

  private allConnected(): boolean {
    return this.connections.length === this.options.hosts.length && this.connections.every((candidate) => candidate.state !== 'connecting');
  }

  rows(): HostRow[] {
    return this.connections.map((host) => ({
      label: host.label,
      state: host.state === 'failed' ? `failed: ${host.reason}` : host.state,
      eventsPerSecond: host.state === 'tracing' ? host.eventsPerSecond : 0,
      total: host.events,
      lost: host.lost,
    }));
  }

  // ---- what hosts say ----------------------------------------------------------------

  update(host: HostConnection, vars: readonly VariableUpdate[]): void {
    this.merge.apply(host.label, vars);
    while (this.reportedProblems < this.merge.problems.length) this.report(`ktap: ${this.merge.problems[this.reportedProblems++]}`);
  }

  output(host: HostConnection, text: string): void {
    if (!this.session.options.json) {
      this.session.writer.write(`[${host.label}] ${text}\n`);
      return;
    }
    // The agent's JSON sink wrote one object: it gains a host field in front.
    if (!isJsonObject(text)) return host.fail('bad message from the agent: output that is not a JSON object');
    this.session.writer.write(`{"host":${jsonString(host.label)},${text.slice(1)}\n`);
  }

  workload(host: HostConnection, text: string): void {
    if (this.session.onWorkloadOutput !== null) this.session.onWorkloadOutput(`[${host.label}] ${text}\n`);
    else if (this.session.options.json) this.session.writer.write(`{"type":"workload","host":${jsonString(host.label)},"text":${jsonString(text)}}\n`);
    else process.stdout.write(`[${host.label}] ${text}\n`);
  }

  note(host: HostConnection, text: string): void {
    this.report(`[${host.label}] ${text}`);
  }

  ran(host: HostConnection, id: number, attached: readonly AttachedHandler[], error: string | undefined): void {
    this.onRan?.(host, id, attached, error);
  }

  stateChanged(host: HostConnection): void {
    if (host.state === 'failed') {
      this.session.writer.flush();
      this.report(`error: [${host.label}] ${host.reason}`);
    } else if (host.state === 'tracing' && this.options.verbose) {
      this.report(`ktap: [${host.label}] tracing (${host.attachedHandlers} handler${host.attachedHandlers === 1 ? '' : 's'} attached)`);
    }
    if (!this.bannerShown && this.allConnected()) {
      this.bannerShown = true;
      for (const resolve of this.readyWaiters.splice(0)) resolve();
      if (!this.options.quiet && this.connections.some((candidate) => candidate.state === 'tracing')) this.session.sink.banner();
      this.session.writer.flush();
    }
    // exit() on any host ends the whole run; so does the end of every host.
    if (host.state === 'ended' && host.endReason === 'exit') this.session.end('exit');
    else if (this.connections.every((candidate) => candidate.settled)) this.session.end('finished');
  }
}

/** -v at the end: what a host did, and what it cost on the wire. */
function summary(host: HostConnection): string {
  const seconds = host.tracingSince === null ? 0 : ((host.settledAt ?? performance.now()) - host.tracingSince) / 1000;
  const rate = seconds > 0 ? `, ${Math.round(host.bytesReceived / seconds)} B/s over ${seconds.toFixed(1)} s traced` : '';
  const how = host.state === 'failed' ? `failed: ${host.reason}` : `${host.state}${host.endReason === '' ? '' : ` (${host.endReason})`}`;
  return `${how}; ${host.events} events, ${host.lost} lost; ${host.bytesReceived} bytes received${rate}`;
}

function isJsonObject(text: string): boolean {
  if (!text.startsWith('{') || !text.endsWith('}')) return false;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
