// `ktap -i --hosts …`: the REPL on a fleet (docs/fleet.md). Each input is compiled here, run
// here on the merged view (its output and values are shown from here), and sent to every
// agent as bytecode, where its trace and profile handlers attach; each host says what it
// attached or why it could not, and fails alone.

import type { Handler, Session } from '../session/session';
import type { HostRow } from '../tui/model';
import { describeAttached, runRepl, type ReplFleet } from '../repl/repl';
import { writeBytecodeFile } from '../vm/bytecode-file';
import type { Proto } from '../vm/proto';
import { Fleet, type FleetOptions } from './coordinator';
import type { HostConnection } from './connection';
import { PROTOCOL_VERSION, type AttachedHandler, type HostSessionOptions } from './protocol';

export interface FleetReplSetup extends Omit<FleetOptions, 'start' | 'quiet' | 'silenceMs'> {
  /** The coordinator's session: the merged view, tick-N and trace_end. */
  readonly session: Session;
  readonly intervalMs: number;
  readonly hostOptions: HostSessionOptions;
  /** `ktap -i --hosts … FILE`: the file, run as the first input. */
  readonly firstFile?: { source: string; chunk: string };
}

export async function runFleetRepl(setup: FleetReplSetup): Promise<number> {
  const { session } = setup;
  const empty = writeBytecodeFile(session.compileScript('', '(repl)', true).proto);
  const fleet = new Fleet(session, {
    ...setup,
    quiet: true,
    silenceMs: Math.max(10_000, 5 * setup.intervalMs),
    start: {
      type: 'start',
      protocol: PROTOCOL_VERSION,
      bytecode: Buffer.from(empty).toString('base64'),
      sessionVariables: true,
      scriptName: '(repl)',
      scriptArgs: [],
      intervalMs: setup.intervalMs,
      command: [],
      interactive: true,
      ...setup.hostOptions,
    },
  });
  try {
    fleet.start();
    // The prompt comes once every host is ready or failed (failures are reported as they come).
    await fleet.ready();
    return await runRepl(session, setup.firstFile, setup.intervalMs, new FleetOfRepl(fleet));
  } finally {
    for (const host of fleet.connections) host.kill();
  }
}

/** What the REPL asks of the fleet. */
class FleetOfRepl implements ReplFleet {
  private inputs = 0;
  /** Per input sent: the handlers it registered here, and the error it met here (a host meeting the same one stays silent). */
  private readonly sent = new Map<number, { handlers: ReadonlyMap<number, Handler>; localError: string | null }>();

  constructor(private readonly fleet: Fleet) {
    fleet.onRan = (host, id, attached, error) => this.ran(host, id, attached, error);
  }

  input(proto: Proto, handlers: readonly Handler[], localError: string | null): void {
    const id = ++this.inputs;
    this.sent.set(id, { handlers: new Map(handlers.map((handler) => [handler.id, handler])), localError });
    this.fleet.broadcast({ type: 'input', id, bytecode: Buffer.from(writeBytecodeFile(proto)).toString('base64') });
    // An input that failed here attaches nothing anywhere (the hosts still number its handlers).
    if (localError !== null && handlers.length > 0) this.detach(handlers.map((handler) => handler.id));
  }

  detach(ids: readonly number[]): void {
    this.fleet.broadcast({ type: 'detach', handlers: ids });
  }

  runs(id: number): number {
    return this.fleet.handlerRuns(id);
  }

  hosts(): readonly HostRow[] {
    return this.fleet.rows();
  }

  setReporter(report: (line: string) => void): void {
    this.fleet.report = report;
  }

  async finish(): Promise<number> {
    await this.fleet.finish();
    return this.fleet.anyFailed ? 1 : 0;
  }

  /** A host ran input `id`: what it attached, one line each, or its error when it is not the one met here. */
  private ran(host: HostConnection, id: number, attached: readonly AttachedHandler[], error: string | undefined): void {
    const input = this.sent.get(id);
    if (input === undefined) return host.fail(`bad message from the agent: it ran input ${id}, which was never sent`);
    if (error !== undefined) {
      if (error !== input.localError) this.fleet.report(`[${host.label}] error: ${error}`);
      return;
    }
    for (const [handlerId, events] of attached) {
      const handler = input.handlers.get(handlerId);
      this.fleet.report(`[${host.label}] ${handler === undefined ? `[${handlerId}] attached` : describeAttached(handler, events)}`);
    }
  }
}
