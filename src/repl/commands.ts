// The REPL's dot-commands (SPEC-product §3): inspecting and steering the live session
// without writing ktap code.

import { writeFileSync } from 'node:fs';
import { FileError, readScriptFile } from '../session/files';
import { UserError } from '../errors';
import { listEvents } from '../session/catalog';
import type { Handler, Session } from '../session/session';
import { disassemble } from '../vm/disasm';
import type { Proto } from '../vm/proto';
import type { ReplFleet } from './repl';

/** What the commands need from the REPL. */
export interface ReplContext {
  readonly session: Session;
  readonly inputs: ReadonlyArray<{ readonly source: string; readonly handlerIds: readonly number[] }>;
  readonly lastProto: Proto | null;
  /** On a fleet: the hosts, and the handlers attached there (the session here holds only tick-N). */
  readonly fleet: ReplFleet | null;
  readonly remoteHandlers: Map<number, Handler>;
  message(text: string): void;
  evaluate(source: string, chunk: string): 'incomplete' | 'ok' | 'failed';
  /** `.dash`: opens the dashboard on the session; q returns to the prompt. */
  openDashboard(): void;
  finish(): void;
}

interface Command {
  readonly name: string;
  readonly args: string;
  readonly doc: string;
  run(repl: ReplContext, argument: string): void;
}

/** Runs between two `.probes` calls give the rates it shows. */
const lastSample = { at: process.hrtime.bigint(), runs: [] as number[] };

export const COMMANDS: readonly Command[] = [
  { name: '.help', args: '', doc: 'this list', run: (repl) => repl.message(helpText()) },
  {
    name: '.probes', args: '', doc: 'attached handlers: id, definition, events, events/s, tier (kernel: eBPF; hosts: on a fleet), lost',
    run: (repl) => repl.message(probesText(repl)),
  },
  {
    name: '.detach', args: 'ID|all', doc: 'detach a handler (or all of them)',
    run: (repl, argument) => {
      const session = repl.session;
      const all = [...session.handlers, ...repl.remoteHandlers.values()].sort((a, b) => a.id - b.id);
      const targets = argument === 'all' ? all : all.filter((handler) => String(handler.id) === argument);
      if (targets.length === 0) {
        repl.message(argument === '' ? 'usage: .detach ID|all' : `no attached handler with id ${argument}`);
        return;
      }
      detachOnHosts(repl, targets);
      for (const handler of targets) {
        if (session.handlers.includes(handler)) session.detach(handler);
        repl.message(`[${handler.id}] detached`);
      }
    },
  },
  {
    name: '.stop', args: '', doc: 'detach everything and run the trace_end handlers',
    run: (repl) => {
      detachOnHosts(repl, [...repl.remoteHandlers.values()]);
      repl.session.stopAll();
    },
  },
  { name: '.tables', args: '', doc: 'session variables holding tables, with their sizes (on a fleet: the merged view)', run: (repl) => repl.message(tablesText(repl.session)) },
  {
    name: '.bytecode', args: '', doc: 'bytecode listing of the last input',
    run: (repl) => repl.message(repl.lastProto === null ? 'no input compiled yet' : disassemble(repl.lastProto)),
  },
  {
    name: '.events', args: '[GLOB]', doc: 'list tracepoint events',
    run: (repl, argument) => {
      try {
        const events = listEvents(argument === '' ? undefined : argument);
        repl.message(events.length === 0 ? 'no matching events' : events.join('\n'));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        repl.message(error.report());
      }
    },
  },
  {
    name: '.load', args: 'FILE', doc: 'run a script file as one input',
    run: (repl, argument) => {
      let source: string;
      try {
        source = readScriptFile(argument).toString('latin1');
      } catch (error) {
        if (!(error instanceof FileError)) throw error;
        repl.message(error.report());
        return;
      }
      if (repl.evaluate(source, argument) === 'incomplete') repl.message(`syntax error: ${argument}: unexpected end of file`);
    },
  },
  {
    name: '.save', args: 'FILE', doc: 'save the inputs that still make sense as a script',
    run: (repl, argument) => {
      if (argument === '') {
        repl.message('usage: .save FILE');
        return;
      }
      const attached = new Set([...repl.session.handlers.map((handler) => handler.id), ...repl.remoteHandlers.keys()]);
      // An input whose handlers were all detached no longer contributes; others are kept.
      const kept = repl.inputs.filter((input) => input.handlerIds.length === 0 || input.handlerIds.some((id) => attached.has(id)));
      try {
        writeFileSync(argument, '#!/usr/bin/env ktap\n' + kept.map((input) => input.source + '\n').join(''));
        repl.message(`saved ${kept.length} input${kept.length === 1 ? '' : 's'} to ${argument}`);
      } catch (error) {
        repl.message(`error: cannot write ${argument}: ${(error as Error).message}`);
      }
    },
  },
  { name: '.dash', args: '', doc: 'the live dashboard on this session (q comes back here)', run: (repl) => repl.openDashboard() },
  { name: '.clear', args: '', doc: 'clear the screen', run: (repl) => repl.message('\x1b[H\x1b[2J') },
  { name: '.exit', args: '', doc: 'detach everything, run trace_end, clean up and exit', run: (repl) => repl.finish() },
];

export function runCommand(repl: ReplContext, line: string): void {
  const [name, ...rest] = line.split(/\s+/);
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    repl.message(`unknown command ${name}; .help lists them`);
    return;
  }
  command.run(repl, rest.join(' '));
}

function helpText(): string {
  return COMMANDS.map((command) => `${(command.name + ' ' + command.args).padEnd(16)} ${command.doc}`).join('\n') +
    '\nAnything else is ktap code: statements run at once, a bare expression prints its value,\n' +
    'trace/tick/profile blocks attach at once while events keep flowing.';
}

/** Handlers attached on a fleet's hosts leave the session here: the hosts say what they are doing. */
function detachOnHosts(repl: ReplContext, handlers: readonly Handler[]): void {
  const remote = handlers.filter((handler) => repl.remoteHandlers.delete(handler.id));
  if (remote.length > 0) repl.fleet?.detach(remote.map((handler) => handler.id));
}

function probesText(repl: ReplContext): string {
  const { session, fleet } = repl;
  const now = process.hrtime.bigint();
  const seconds = Number(now - lastSample.at) / 1e9;
  const definition = (handler: Session['handlers'][number]): string => `${handler.kind === 'trace' ? 'trace ' : ''}${handler.header}`;
  // On a fleet, trace and profile handlers run on the hosts: their runs are the hosts' sum.
  const stats = session.stats();
  const probes = [
    ...stats.probes,
    ...[...repl.remoteHandlers.values()].map((handler) => ({ handler, runs: fleet?.runs(handler.id) ?? 0, tier: 'hosts' })),
  ].sort((a, b) => a.handler.id - b.handler.id);
  // The definition column grows with the longest one (filters make them long).
  const width = Math.max(41, ...probes.map(({ handler }) => definition(handler).length));
  const lines = [`id  ${'definition'.padEnd(width)}   events    events/s  tier`];
  for (const { handler, runs, tier } of probes) {
    const rate = seconds > 0 ? (runs - (lastSample.runs[handler.id] ?? 0)) / seconds : 0;
    lines.push(`${String(handler.id).padEnd(3)} ${definition(handler).padEnd(width)} ${String(runs).padStart(8)} ${rate.toFixed(1).padStart(11)}  ${tier}`);
    lastSample.runs[handler.id] = runs;
  }
  lastSample.at = now;
  if (probes.length === 0) lines.push('(nothing attached)');
  if (fleet !== null) {
    const hosts = fleet.hosts();
    const labelWidth = Math.max(4, ...hosts.map((host) => host.label.length));
    lines.push(`${'host'.padEnd(labelWidth)}     events       lost  state`);
    for (const host of hosts) lines.push(`${host.label.padEnd(labelWidth)} ${String(host.total).padStart(10)} ${String(host.lost).padStart(10)}  ${host.state}`);
    lines.push(`events lost: ${hosts.reduce((sum, host) => sum + host.lost, 0)}`);
    return lines.join('\n');
  }
  const lost = [...stats.cpus?.lost.values() ?? []].reduce((sum, count) => sum + count, 0);
  lines.push(`events lost: ${lost}`);
  return lines.join('\n');
}

function tablesText(session: Session): string {
  const lines = session.stats().tables.map(({ name, table }) => `${name.padEnd(20)} ${table.length} entr${table.length === 1 ? 'y' : 'ies'}`);
  return lines.length === 0 ? 'no tables' : lines.join('\n');
}
