// The `ktap` command: argv → mode, then run a script, a one-liner or a bytecode file through
// a session, print a listing, save bytecode, or answer -V/-h. Every UserError ends it with
// its one line and exit status; any other exception is reported as a bug.

import { closeSync, writeFileSync } from 'node:fs';
import { compile } from './compiler';
import { OPTION_HELP, parseArguments, type CliOptions } from './cli/options';
import { EXIT_OK, exitOnUncaught, UserError } from './errors';
import { endWhenReaderGoes, exitAfterOutput } from './exit';
import { MetricsCollector } from './metrics/collector';
import { serveMetrics, type MetricsServer } from './metrics/server';
import { sessionSource } from './metrics/source';
import { listingTiers } from './bpf/tier';
import { runAgent } from './fleet/agent';
import { parseHostList, parseHostsFile, type HostSpec } from './fleet/hosts';
import type { HostSessionOptions } from './fleet/protocol';
import { runFleetScript } from './fleet/run';
import { runFleetRepl } from './fleet/repl';
import { localBundle, type AgentSource } from './fleet/ssh';
import { FileError, openOutputFile, readScriptFile, refuseInputAsOutput, systemMessage } from './session/files';
import { runRepl } from './repl/repl';
import { listEventFields, listEvents, listFunctions, listMarkers, removeStaleRunsIfPermitted } from './session/catalog';
import { Session } from './session/session';
import { writeAll } from './session/output';
import { assertTerminal, openDashboard, type Dashboard } from './tui/dashboard';
import { isBytecodeFile, writeBytecodeFile } from './vm/bytecode-file';
import { disassemble } from './vm/disasm';
import { BUILTINS, GLOBAL_NAMES } from './vm/lib/index';
import type { KFunction } from './vm/value';
import type { EventVariable } from './vm/opcodes';

declare const KTAP_VERSION: string | undefined;
const VERSION = typeof KTAP_VERSION === 'string' ? KTAP_VERSION : '0.5.0';

async function main(argv: readonly string[]): Promise<number> {
  try {
    return await runMode(parseArguments(argv));
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    process.stderr.write(error.report() + '\n');
    return error.exitCode;
  }
}

async function runMode(options: CliOptions): Promise<number> {
  switch (options.mode) {
    case 'version':
      printOut([`ktap ${VERSION} (TypeScript on Node.js ${process.version})`]);
      return EXIT_OK;
    case 'help':
      printOut([helpText()]);
      return EXIT_OK;
    case 'listing': {
      const { source, chunk } = readScript(options.script!);
      const main = compile(source, chunk, { globals: GLOBAL_NAMES }).main;
      printOut([disassemble(main) + listingTiers(main)]);
      return EXIT_OK;
    }
    case 'save': {
      const { source, chunk } = readScript(options.script!);
      const proto = compile(source, chunk, { globals: GLOBAL_NAMES }).main;
      refuseInputAsOutput(options.saveTo!, [options.script!], '--save-bytecode');
      try {
        writeFileSync(options.saveTo!, writeBytecodeFile(proto));
      } catch (error) {
        throw new FileError(`cannot write ${options.saveTo}: ${systemMessage(error)}`);
      }
      return EXIT_OK;
    }
    case 'run':
    case 'eval':
    case 'simple':
      return runScript(options);
    case 'repl':
      return runInteractive(options);
    case 'agent':
      return runAgent(VERSION);
    case 'list-functions':
    case 'list-markers':
      printOut(options.mode === 'list-functions' ? listFunctions(options.listPattern!) : listMarkers(options.listPattern!));
      return EXIT_OK;
    case 'list-events':
      printOut((options.listFields ? listEventFields : listEvents)(options.listPattern));
      return EXIT_OK;
  }
}

/**
 * Writes lines of a listing to stdout, in chunks. A reader that stops early (`ktap -le |
 * head -1`) is no error: the rest is not written and ktap exits 0. Output that cannot be
 * written (a full disk) is one line and exit 1 (docs/files.md).
 */
function printOut(lines: Iterable<string>): void {
  const write = (text: string): boolean => {
    try {
      return writeAll(1, Buffer.from(text, 'latin1'));
    } catch (error) {
      throw new FileError(`cannot write to standard output: ${systemMessage(error)}`);
    }
  };
  let chunk = '';
  for (const line of lines) {
    chunk += line.endsWith('\n') ? line : line + '\n';
    if (chunk.length < 65536) continue;
    if (!write(chunk)) return;
    chunk = '';
  }
  write(chunk);
}

function sessionFor(options: CliOptions, outputFd: number, chunkName: string): Session {
  return new Session({
    limits: options.limits,
    outputFd,
    ...(options.outputFile === undefined ? {} : { outputName: options.outputFile }),
    json: options.json,
    quiet: options.quiet,
    verbose: options.verbose,
    dryRun: options.dryRun,
    bareErrors: options.bareErrors,
    scriptName: chunkName,
    scriptArgs: options.scriptArgs,
    timestamps: options.timestamps,
    command: options.command,
    captureWorkloadOutput: options.tui,
    traceSelf: options.traceSelf,
    tier: options.tier,
    ...(options.pid === undefined ? {} : { pid: options.pid }),
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
    ...(options.bufferSizeKb === undefined ? {} : { bufferSizeKb: options.bufferSizeKb }),
  });
}

/** The REPL (SPEC-product §3), optionally after running FILE as its first input; on a fleet with --hosts. */
async function runInteractive(options: CliOptions): Promise<number> {
  const outputFd = openOutput(options);
  const onFleet = options.hosts !== undefined || options.hostsFile !== undefined;
  const session = sessionFor(onFleet ? { ...options, dryRun: false } : options, outputFd, options.script ?? '(repl)');
  try {
    const first = options.script === undefined ? undefined : readScript(options.script);
    const status = !onFleet ? await runRepl(session, first, options.intervalMs) : await runFleetRepl({
      session,
      hosts: fleetHosts(options),
      source: agentSource(options),
      connectTimeoutS: options.connectTimeoutS,
      intervalMs: options.intervalMs,
      hostOptions: hostSessionOptions(options),
      verbose: options.verbose,
      ...(first === undefined ? {} : { firstFile: first }),
    });
    session.writer.flush();
    if (session.writer.failure !== null) throw new FileError(session.writer.failure);
    return status;
  } finally {
    session.writer.flush();
    session.close();
    if (outputFd !== 1) closeSync(outputFd);
  }
}

/**
 * Runs a script file, bytecode file or one-liner through a session (SPEC §3.10). With
 * `-- cmd`, a status of the command's own replaces a normal end's 0 (docs/workload.md);
 * output that could not be written makes it 1 (docs/files.md).
 */
async function runScript(options: CliOptions): Promise<number> {
  if (options.tui) assertTerminal();
  if (options.hosts !== undefined || options.hostsFile !== undefined) return runOnHosts(options);
  // What killed runs left in the kernel goes now, even when this run traces nothing.
  if (!options.dryRun) removeStaleRunsIfPermitted();
  const outputFd = openOutput(options);
  const chunkName = options.mode === 'run' ? options.script! : '(command line)';
  const session = sessionFor(options, outputFd, chunkName);
  let dashboard: Dashboard | null = null;
  let metrics: MetricsServer | null = null;
  try {
    const main = loadMain(session, options, chunkName);
    const outcome = session.runCode(main);
    if (outcome === 'exit') session.runEndHandlers();
    // A script without probes still runs its command, and ends when the command does.
    if (outcome === 'ok' && session.endReason === null && (session.hasEventHandlers || options.command.length > 0)) {
      // Listening before anything is attached: a bad address ends the run with nothing to undo.
      if (options.metrics !== undefined && !options.dryRun) {
        const collector = new MetricsCollector(sessionSource(session), options.metricsMaxKeys);
        metrics = await serveMetrics(options.metrics, () => collector.scrape());
        if (!options.quiet) process.stderr.write(`ktap: serving metrics at ${metrics.url}\n`);
      }
      // --tui: the dashboard is up while events flow; trace_end writes on the normal screen.
      if (options.tui) {
        dashboard = openDashboard(session, {
          intervalMs: options.intervalMs,
          onQuit: (reason) => session.end(reason === 'hangup' ? 'terminate' : 'interrupt'),
        });
      }
      await session.runEvents();
      dashboard?.close();
    }
    if (outcome === 'ok' && !session.failed) session.runEndHandlers();
  } finally {
    dashboard?.close();
    metrics?.close();
    session.writer.flush();
    session.close();
    if (outputFd !== 1) closeSync(outputFd);
  }
  if (session.writer.failure !== null) throw new FileError(session.writer.failure);
  return (await session.workloadStatus()) ?? EXIT_OK;
}

/** --hosts: compiled and verified here once, run by an agent on each host (docs/fleet.md). */
async function runOnHosts(options: CliOptions): Promise<number> {
  const hosts = fleetHosts(options);
  const outputFd = openOutput(options);
  const chunkName = options.mode === 'run' ? options.script! : '(command line)';
  // The coordinator's session holds the merged view; the workload runs on the hosts.
  const session = sessionFor({ ...options, command: [], quiet: true, dryRun: false }, outputFd, chunkName);
  try {
    const shipped = loadShipped(session, options, chunkName);
    return await runFleetScript({
      session, ...shipped, hosts, source: agentSource(options),
      connectTimeoutS: options.connectTimeoutS,
      intervalMs: options.intervalMs,
      command: options.command,
      hostOptions: hostSessionOptions(options),
      quiet: options.quiet,
      ...(options.tui ? {
        openFace: (fleet) => openDashboard(session, {
          intervalMs: options.intervalMs,
          onQuit: (reason) => session.end(reason === 'hangup' ? 'terminate' : 'interrupt'),
          hosts: () => fleet.rows(),
        }),
      } : {}),
    });
  } finally {
    session.writer.flush();
    session.close();
    if (outputFd !== 1) closeSync(outputFd);
  }
}

/** The agent on the hosts: ktap's own bundle, shipped, or the installed ktap of --remote-ktap. */
function agentSource(options: CliOptions): AgentSource {
  return options.remoteKtap !== undefined ? { remoteKtap: options.remoteKtap } : { bundle: localBundle() };
}

/** What holds on every host of a fleet: the options of the agents' sessions. */
function hostSessionOptions(options: CliOptions): HostSessionOptions {
  return {
    json: options.json,
    verbose: options.verbose,
    timestamps: options.timestamps,
    dryRun: options.dryRun,
    tier: options.tier,
    traceSelf: options.traceSelf,
    limits: { ...options.limits },
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
    ...(options.bufferSizeKb === undefined ? {} : { bufferSizeKb: options.bufferSizeKb }),
  };
}

function fleetHosts(options: CliOptions): HostSpec[] {
  if (options.hosts !== undefined) return parseHostList(options.hosts);
  const path = options.hostsFile!;
  return parseHostsFile(Buffer.from(readScriptFile(path)).toString('utf8'), path);
}

/** The main function here and the bytecode file the hosts run: a script's top-level variables travel by name. */
function loadShipped(session: Session, options: CliOptions, chunkName: string): { main: KFunction; bytecode: Uint8Array; sessionVariables: boolean } {
  if (options.mode === 'run') {
    const bytes = readScriptFile(options.script!);
    if (isBytecodeFile(bytes)) return { main: session.loadBytecode(bytes), bytecode: bytes, sessionVariables: false };
  }
  const source = options.mode === 'eval' ? options.script!
    : options.mode === 'simple' ? simpleScript(options.script!)
    : Buffer.from(readScriptFile(options.script!)).toString('latin1');
  const { proto, main } = session.compileScript(source, chunkName, true);
  return { main, bytecode: writeBytecodeFile(proto), sessionVariables: true };
}

function simpleScript(eventdef: string): string {
  return `trace ${eventdef} { print(cpu, tid, execname, argstr) }`;
}

function loadMain(session: Session, options: CliOptions, chunkName: string): KFunction {
  // --tui, --metrics: top-level variables become session variables, so the dashboard and
  // the scrapes see the tables.
  const shared = options.tui || options.metrics !== undefined;
  if (options.mode === 'eval') return session.compileScript(options.script!, chunkName, shared).main;
  if (options.mode === 'simple') {
    return session.compileScript(simpleScript(options.script!), chunkName, shared).main;
  }
  const bytes = readScriptFile(options.script!);
  if (isBytecodeFile(bytes)) return session.loadBytecode(bytes);
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  if (source.length === 0) process.stderr.write(`warning: ${options.script} is empty\n`);
  return session.compileScript(source, chunkName, shared).main;
}

function readScript(path: string): { source: string; chunk: string } {
  const bytes = readScriptFile(path);
  if (isBytecodeFile(bytes)) throw new FileError(`${path} is a bytecode file, not a script`);
  return { source: Buffer.from(bytes).toString('latin1'), chunk: path };
}

/** The -o file, or stdout (1); never one of the run's input files. */
function openOutput(options: CliOptions): number {
  if (options.outputFile === undefined) return 1;
  const inputs = options.script !== undefined && (options.mode === 'run' || options.mode === 'repl') ? [options.script] : [];
  return openOutputFile(options.outputFile, inputs, '-o');
}

/** The event variables other than arg0…arg9, for -h (the type makes a new one need a line). */
const EVENT_VARIABLE_DOCS: Record<Exclude<EventVariable, `arg${number}`>, string> = {
  argstr: 'the event as text, like the kernel\'s trace file',
  probename: 'the event name without its system (sys_enter_read)',
  cpu: 'the CPU that recorded the event',
  pid: 'process id of the task',
  tid: 'thread id of the task',
  uid: 'real user id of the task (-1 if unknown)',
  execname: 'command name of the task (comm)',
};

/** The event variables for -h: arg0…arg9 on one line, then the others, then args.NAME. */
const EVENT_VARIABLE_HELP: ReadonlyArray<readonly [string, string]> = [
  ['arg0 … arg9', 'the event\'s own fields in format order (arg0 of a syscall is its number)'],
  ...Object.entries(EVENT_VARIABLE_DOCS),
  ['args.NAME', 'the event field NAME (args.fd, args.count, args.ret); `ktap -lv GLOB` lists them'],
];

function helpText(): string {
  const lines = [
    `ktap ${VERSION}: a script-based dynamic tracer for Linux`,
    '',
    'Usage:',
    '  ktap [options] FILE [script args...] [-- cmd [args...]]',
    "  ktap [options] -e 'ONE-LINER' [-- cmd [args...]]",
    '  ktap [options] -s EVENTDEF',
    '  ktap [-i [FILE]]                  interactive session',
    '',
    'Options:',
    ...OPTION_HELP.map(([option, doc]) => `  ${option.padEnd(30)} ${doc}`),
    '',
    'Event variables (in trace handlers; SPEC §4.10, docs/language.md):',
    ...EVENT_VARIABLE_HELP.map(([name, doc]) => `  ${name.padEnd(30)} ${doc}`),
    '',
    'Builtins:',
    ...BUILTINS.map((def) => {
      const name = def.library === undefined ? def.name : `${def.library}.${def.name}`;
      return `  ${(name + def.params).padEnd(30)} ${def.doc}`;
    }),
    '',
  ];
  return lines.join('\n');
}

// A failure in a callback while tracing (a timer, the ring-buffer reader) ends ktap the same way.
process.on('uncaughtException', exitOnUncaught);
endWhenReaderGoes();
main(process.argv.slice(2)).then(exitAfterOutput, exitOnUncaught);
