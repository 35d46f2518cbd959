// Command-line parsing (SPEC-product §1): argv → a typed description of what to run.
// Nothing here touches files or the kernel.

import { UserError } from '../errors';
import { DEFAULT_MAX_KEYS } from '../metrics/collector';
import { parseListenAddress, type ListenAddress } from '../metrics/address';
import { DEFAULT_LIMITS, LIMIT_OPTIONS, type Limits } from '../vm/limits';

export interface CliOptions {
  readonly mode: 'run' | 'eval' | 'simple' | 'listing' | 'save' | 'version' | 'help' | 'list-events' | 'list-functions' | 'list-markers' | 'repl' | 'agent';
  /** Script path (run, listing, save; optional for repl) or -e source or -s EVENTDEF. */
  readonly script?: string;
  readonly scriptArgs: readonly string[];
  readonly outputFile?: string;
  readonly saveTo?: string;
  readonly pid?: number;
  readonly cpu?: number;
  readonly timestamps: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly dryRun: boolean;
  readonly tui: boolean;
  readonly json: boolean;
  readonly intervalMs: number;
  /** Ring buffer per CPU in KiB (--buffer-kb). */
  readonly bufferSizeKb?: number;
  /** --trace-self: keep ktap's own events (its process and guardian are filtered out by default). */
  readonly traceSelf: boolean;
  readonly listPattern?: string;
  /** --bare-errors: runtime errors without FILE:LINE and limit option (ktap's form). */
  readonly bareErrors: boolean;
  /** -lv: list the events' fields too. */
  readonly listFields: boolean;
  readonly limits: Limits;
  /** `-- cmd args`: the workload to start and trace. */
  readonly command: readonly string[];
  /** --metrics: serve /metrics for Prometheus here while tracing. */
  readonly metrics?: ListenAddress;
  /** --metrics-max-keys: keys of one table exposed at most (0: no limit). */
  readonly metricsMaxKeys: number;
  /** --tier: where trace handlers run (docs/kernel-tier.md). */
  readonly tier: 'auto' | 'kernel' | 'user';
  /** --hosts LIST: the fleet to trace, as written. */
  readonly hosts?: string;
  /** --hosts-file FILE: the fleet, one host a line. */
  readonly hostsFile?: string;
  /** --remote-ktap CMD: the ktap installed on the hosts, instead of shipping this one. */
  readonly remoteKtap?: string;
  /** --connect-timeout S: ssh's ConnectTimeout for each host. */
  readonly connectTimeoutS: number;
}

/** A bad command line: the message names the problem; exit status 1. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 'usage');
  }

  override report(): string {
    return `error: ${this.message} (see 'ktap -h')`;
  }
}

/** Options, their argument and one line of help: the source of truth for parsing and -h. */
export const OPTION_HELP: ReadonlyArray<readonly [string, string]> = [
  ['-e SRC', 'run a one-liner; its chunk name is (command line)'],
  ['-o FILE', 'script output goes to FILE instead of stdout'],
  ['-p PID', 'trace only this process (kernel-side filter)'],
  ['-C CPU', 'trace only this CPU'],
  ['-T', 'prefix each event\'s output with its kernel timestamp'],
  ['-q', 'quiet: no "Tracing... Hit Ctrl-C to end." banner'],
  ['-v', 'verbose: attached probes, filters, error locations, ring-buffer stats'],
  ['-d', 'dry run: compile and resolve probes, attach nothing'],
  ['-s EVENTDEF', 'simple tracing: print cpu, tid, execname, argstr of each event'],
  ['-b', 'print the bytecode listing and exit'],
  ['-le [GLOB]', 'list tracepoint events'],
  ['--bare-errors', "runtime errors as the original ktap wrote them: 'error: MESSAGE' (no FILE:LINE, no limit option)"],
  ['-lv [GLOB]', 'list tracepoint events with their fields: argN, type, args.NAME'],
  ['-lf DSO', 'list functions of an ELF file usable as uprobes'],
  ['-lm DSO', 'list SDT markers of an ELF file'],
  ['-i [FILE]', 'interactive session (REPL), optionally after running FILE'],
  ['--tui', 'run with the full-screen dashboard'],
  ['--interval MS', 'dashboard refresh interval (default 1000)'],
  ['--json', 'one JSON object per line for every output'],
  ['--buffer-kb KB', 'kernel ring buffer per CPU in KiB (default 4096)'],
  ['--trace-self', "also trace ktap's own process and its guardian (filtered out in the kernel by default)"],
  ['--metrics [ADDR:]PORT', 'serve tables and stats at /metrics for Prometheus while tracing'],
  ['--metrics-max-keys N', `keys of one table served at most (default ${DEFAULT_MAX_KEYS}, 0 = unlimited)`],
  ['--tier auto|kernel|user', 'where trace handlers run: in the kernel as eBPF when they can (auto, the default), always (kernel), never (user)'],
  ['--save-bytecode OUT', 'compile FILE to a portable bytecode file and exit'],
  ['--hosts H1,H2,...', 'run on these hosts over ssh ([user@]host[:port]) and merge their tables (docs/fleet.md)'],
  ['--hosts-file FILE', 'the hosts, one [user@]host[:port] a line'],
  ['--remote-ktap CMD', 'run the agent with this ktap on the hosts instead of shipping this one'],
  ['--connect-timeout S', 'give up connecting to a host after S seconds (default 10)'],
  ...LIMIT_OPTIONS.map((limit) => [`${limit.option} N`, `${limit.doc} (default ${DEFAULT_LIMITS[limit.key]}, 0 = unlimited)`] as const),
  ['-V', 'print the version'],
  ['-h', 'this help'],
  ['-- cmd args', 'start cmd, trace only it and its children, stop when it exits'],
];

function integerArgument(option: string, text: string | undefined, min: number): number {
  if (text === undefined || !/^[0-9]+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`option ${option} needs ${min > 0 ? 'a positive' : 'a non-negative'} integer${text === undefined ? '' : `, not '${text}'`}`);
  }
  return Number(text);
}

export function parseArguments(argv: readonly string[]): CliOptions {
  let mode: CliOptions['mode'] | undefined;
  let script: string | undefined;
  const scriptArgs: string[] = [];
  let outputFile: string | undefined;
  let saveTo: string | undefined;
  let pid: number | undefined;
  let cpu: number | undefined;
  let listPattern: string | undefined;
  let listFields = false;
  let timestamps = false;
  let quiet = false;
  let verbose = false;
  let dryRun = false;
  let tui = false;
  let json = false;
  let bareErrors = false;
  let interactive = false;
  let intervalMs = 1000;
  let bufferSizeKb: number | undefined;
  let traceSelf = false;
  const limits: Limits = { ...DEFAULT_LIMITS };
  let command: string[] = [];
  let metrics: ListenAddress | undefined;
  let metricsMaxKeys = DEFAULT_MAX_KEYS;
  let tier: CliOptions['tier'] = 'auto';
  let hosts: string | undefined;
  let hostsFile: string | undefined;
  let remoteKtap: string | undefined;
  let connectTimeoutS = 10;

  const setMode = (next: CliOptions['mode']): void => {
    if (mode !== undefined && mode !== next) throw new UsageError(`conflicting options: cannot combine ${modeName(mode)} and ${modeName(next)}`);
    mode = next;
  };

  let index = 0;
  const value = (option: string): string => {
    const next = argv[++index];
    if (next === undefined) throw new UsageError(`option ${option} needs an argument`);
    return next;
  };

  for (; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') {
      command = argv.slice(index + 1);
      if (command.length === 0) throw new UsageError('-- needs a command to run');
      break;
    }
    // After the script file, everything up to `--` belongs to the script.
    if (script !== undefined && (mode === 'run' || mode === undefined)) {
      scriptArgs.push(arg);
      continue;
    }
    const limit = LIMIT_OPTIONS.find((candidate) => candidate.option === arg);
    if (limit !== undefined) {
      limits[limit.key] = integerArgument(arg, argv[++index], 0);
      continue;
    }
    switch (arg) {
      case '-e': setMode('eval'); script = value(arg); break;
      case '-s': setMode('simple'); script = value(arg); break;
      case '-o': outputFile = value(arg); break;
      case '-p': pid = integerArgument(arg, argv[++index], 1); break;
      case '-C': cpu = integerArgument(arg, argv[++index], 0); break;
      case '-T': timestamps = true; break;
      case '-q': quiet = true; break;
      case '-v': verbose = true; break;
      case '-d': dryRun = true; break;
      case '-b': setMode('listing'); break;
      case '-i': interactive = true; break;
      case '--tui': tui = true; break;
      case '--json': json = true; break;
      case '--bare-errors': bareErrors = true; break;
      case '--interval': intervalMs = integerArgument(arg, argv[++index], 1); break;
      case '--buffer-kb': bufferSizeKb = integerArgument(arg, argv[++index], 1); break;
      case '--trace-self': traceSelf = true; break;
      case '--metrics': {
        const address = parseListenAddress(value(arg));
        if (typeof address === 'string') throw new UsageError(`option --metrics: ${address}`);
        metrics = address;
        break;
      }
      case '--metrics-max-keys': metricsMaxKeys = integerArgument(arg, argv[++index], 0); break;
      case '--save-bytecode': setMode('save'); saveTo = value(arg); break;
      case '--tier': {
        const text = value(arg);
        if (text !== 'auto' && text !== 'kernel' && text !== 'user') throw new UsageError(`option --tier needs auto, kernel or user, not '${text}'`);
        tier = text;
        break;
      }
      case '--hosts': hosts = value(arg); break;
      case '--hosts-file': hostsFile = value(arg); break;
      case '--remote-ktap': remoteKtap = value(arg); break;
      case '--connect-timeout': connectTimeoutS = integerArgument(arg, argv[++index], 1); break;
      // Hidden: what the coordinator of a fleet runs on each host (src/fleet/agent.ts).
      case '--agent': setMode('agent'); break;
      case '-V': case '--version': setMode('version'); break;
      case '-h': case '--help': setMode('help'); break;
      case '-le':
      case '-lv': {
        setMode('list-events');
        listFields = arg === '-lv';
        const next = argv[index + 1];
        if (next !== undefined && !next.startsWith('-')) listPattern = argv[++index];
        break;
      }
      case '-lf': setMode('list-functions'); listPattern = value(arg); break;
      case '-lm': setMode('list-markers'); listPattern = value(arg); break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
        if (script === undefined) script = arg;
        else scriptArgs.push(arg);
    }
  }

  if (interactive) {
    if (mode !== undefined) throw new UsageError(`conflicting options: cannot combine -i and ${modeName(mode)}`);
    mode = 'repl';
  }
  if (mode === undefined) mode = script === undefined ? 'repl' : 'run';
  if ((mode === 'listing' || mode === 'save') && script === undefined) throw new UsageError(`${modeName(mode)} needs a script file`);
  if (metrics !== undefined && mode !== 'run' && mode !== 'eval' && mode !== 'simple') {
    throw new UsageError(mode === 'repl' && !interactive ? '--metrics needs a script to run (FILE, -e or -s)' : `cannot combine --metrics and ${modeName(mode)}`);
  }
  checkFleetOptions(mode, { hosts, hostsFile, remoteKtap, pid, metrics: metrics !== undefined, command });
  return {
    mode, script, scriptArgs, outputFile, saveTo, pid, cpu, timestamps, quiet, verbose, dryRun, tui, json, bareErrors,
    intervalMs, bufferSizeKb, traceSelf, listPattern, listFields, limits, command, metrics, metricsMaxKeys, tier,
    hosts, hostsFile, remoteKtap, connectTimeoutS,
  };
}

/**
 * --hosts and its companions: with a script, one of --hosts / --hosts-file. -C, -d, -T and
 * the rest hold on every host; -p (a process of one machine) and --metrics (one ktap per
 * host, merged by PromQL) do not make sense on a fleet.
 */
function checkFleetOptions(mode: CliOptions['mode'], fleet: { hosts?: string; hostsFile?: string; remoteKtap?: string; pid?: number; metrics: boolean; command: readonly string[] }): void {
  const onFleet = fleet.hosts !== undefined || fleet.hostsFile !== undefined;
  if (fleet.hosts !== undefined && fleet.hostsFile !== undefined) throw new UsageError('conflicting options: cannot combine --hosts and --hosts-file');
  if (!onFleet) {
    if (fleet.remoteKtap !== undefined) throw new UsageError('--remote-ktap needs --hosts or --hosts-file');
    return;
  }
  if (mode === 'repl' && fleet.command.length > 0) throw new UsageError('conflicting options: the REPL on a fleet runs no command (-- cmd); use a script or -e');
  if (mode !== 'run' && mode !== 'eval' && mode !== 'simple' && mode !== 'repl') throw new UsageError(`--hosts runs a script, -e, -s or the REPL (-i); it cannot be combined with ${modeName(mode)}`);
  if (fleet.pid !== undefined) throw new UsageError('conflicting options: -p names a process of one machine; with --hosts use -- cmd');
  if (fleet.metrics) throw new UsageError('conflicting options: cannot combine --metrics and --hosts; run ktap --metrics on each host and let Prometheus merge (docs/metrics.md)');
}

function modeName(mode: CliOptions['mode']): string {
  const names: Record<CliOptions['mode'], string> = {
    run: 'a script file', eval: '-e', simple: '-s', listing: '-b', save: '--save-bytecode', version: '-V',
    help: '-h', 'list-events': '-le', 'list-functions': '-lf', 'list-markers': '-lm', repl: '-i', agent: '--agent',
  };
  return names[mode];
}
