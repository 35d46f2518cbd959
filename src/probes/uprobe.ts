// Dynamic probe events (SPEC §4.4–4.6, §4.9): definition lines for `uprobe_events` and
// `kprobe_events` under groups of our own (`ktap_<pid>…`), creation, removal on every way
// out, and removal of the definitions runs that died left behind.

import { appendFileSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { staleRunCheck } from './guardian';
import { registerCleanup, TracefsError } from './tracefs';

export interface ProbeSpec {
  /** Event name (SPEC §4.9): the sanitised symbol, `ret_` + it, `addr_HEX`, or the marker name. */
  readonly event: string;
  readonly isReturn: boolean;
  /** Where: `PATH:0xOFFSET[(0xREF)]` for a uprobe (see uprobePlace), a kernel symbol for a kprobe. */
  readonly place: string;
  /** Fetch arguments, `NAME=FETCHARG[:TYPE]` separated by spaces. */
  readonly fetchArgs: string;
}

/** A created probe: where its events appear in tracefs. */
export interface ProbeEvent {
  readonly system: string;
  readonly event: string;
}

/** Creates probe events (or, for a dry run, only records what it would write). */
export interface ProbeDefiner {
  define(spec: ProbeSpec): ProbeEvent;
}

/** A uprobe's place: the file offset, and an SDT semaphore's offset as its reference counter. */
export function uprobePlace(path: string, offset: bigint, refCtrOffset?: bigint): string {
  return `${path}:0x${offset.toString(16)}${refCtrOffset === undefined ? '' : `(0x${refCtrOffset.toString(16)})`}`;
}

/** Integer argument registers of the ABI: arg1…arg6 of a uprobe without fetch arguments. */
export function argumentRegisters(machine = arch()): readonly string[] {
  switch (machine) {
    case 'x64': return ['%di', '%si', '%dx', '%cx', '%r8', '%r9'];
    case 'arm64': return ['%x0', '%x1', '%x2', '%x3', '%x4', '%x5'];
    default: throw new TracefsError(`uprobes without fetch arguments need the argument registers of ${machine}, which ktap does not know; write them after the definition`);
  }
}

/**
 * The default fetch arguments (SPEC §4.5): the six argument registers for an entry probe,
 * `$retval` for a return probe. Arguments the handler passes to user_string are fetched as
 * `ustring` so that the kernel copies the text at the event.
 */
export function defaultFetchArgs(isReturn: boolean, userStrings: ReadonlySet<number>): string {
  if (isReturn) return userStrings.has(2) ? 'arg2=+0($retval):ustring' : 'arg2=$retval';
  return argumentRegisters().map((register, index) => {
    const argument = index + 1;
    return userStrings.has(argument) ? `arg${argument}=+0(${register}):ustring` : `arg${argument}=${register}`;
  }).join(' ');
}

/** A name the kernel accepts as an event name: letters, digits and `_`, not starting with a digit. */
export function eventName(text: string): string {
  const name = text.replace(/[^A-Za-z0-9_]/g, '_');
  return (/^[0-9]/.test(name) ? '_' + name : name).slice(0, 63);
}

/** `p:GROUP/EVENT PLACE ARGS` (or `r:` for a return probe), as uprobe_events and kprobe_events take it. */
export function definitionLine(group: string, spec: ProbeSpec): string {
  return `${spec.isReturn ? 'r' : 'p'}:${group}/${spec.event} ${spec.place}${spec.fetchArgs === '' ? '' : ' ' + spec.fetchArgs}`;
}

/** The group of this run's first probes; later groups add `_N` (see ProbeSet.define). */
export function probeGroup(): string {
  return `${GROUP_PREFIX}${process.pid}`;
}

const GROUP_PREFIX = 'ktap_';

/** Whether an event system is a probe group of a ktap run (its events are uprobes or kprobes). */
export function isProbeGroup(system: string): boolean {
  return /^ktap_\d+(_\d+)?$/.test(system);
}

/**
 * The uprobes or kprobes of one run. Definitions go to the global `uprobe_events` /
 * `kprobe_events` (there is no per-instance one), so they carry our pid in the group name
 * and are removed on exit.
 */
export class ProbeSet implements ProbeDefiner {
  private readonly created: Array<{ group: string; event: string }> = [];
  /** Definition (without group) → its probe: one kernel probe per distinct definition. */
  private readonly defined = new Map<string, ProbeEvent>();
  /** `GROUP/EVENT` of each probe created. */
  private readonly createdNames = new Set<string>();
  private readonly unregister: () => void;

  /**
   * Create the set before the tracing instance: cleanups run newest first, and a probe can
   * only be removed once the instance that enables its event is gone.
   */
  constructor(
    private readonly root: string,
    private readonly file: 'uprobe_events' | 'kprobe_events',
  ) {
    this.unregister = registerCleanup(() => this.removeAll());
  }

  /** Creates (or reuses) the kernel probe for `spec` and returns its tracefs event. */
  define(spec: ProbeSpec): ProbeEvent {
    const probe = this.plan(spec);
    const name = `${probe.system}/${probe.event}`;
    if (this.createdNames.has(name)) return probe;
    this.write(definitionLine(probe.system, spec), `cannot create probe ${spec.place}`);
    this.created.push({ group: probe.system, event: probe.event });
    this.createdNames.add(name);
    return probe;
  }

  /**
   * The tracefs event `spec` gets (define() creates it; planning first lets a large glob
   * be created step by step): one kernel probe per distinct definition.
   */
  plan(spec: ProbeSpec): ProbeEvent {
    const key = definitionLine('', spec);
    const existing = this.defined.get(key);
    if (existing !== undefined) return existing;
    // Same event name with other fetch arguments: a group of its own (SPEC §4.9).
    const taken = [...this.defined.values()];
    let group = probeGroup();
    for (let index = 1; taken.some((probe) => probe.system === group && probe.event === spec.event); index++) {
      group = `${probeGroup()}_${index}`;
    }
    const probe = { system: group, event: spec.event };
    this.defined.set(key, probe);
    return probe;
  }

  /** Leaves the probes to the guardian, which removes them after ktap has exited (and the instance is gone). */
  abandon(): void {
    this.unregister();
    this.created.length = 0;
    this.createdNames.clear();
    this.defined.clear();
  }

  /**
   * Removes every probe this run created (their events must be disabled: remove the
   * instance first): one write per group (`-:GROUP/`, thousands of probes in ~0.1 s), or
   * probe by probe where the kernel does not take that form.
   */
  removeAll(): void {
    this.unregister();
    const created = this.created.splice(0);
    this.createdNames.clear();
    this.defined.clear();
    for (const group of new Set(created.map((entry) => entry.group))) {
      try {
        this.write(`-:${group}/`, `cannot remove probe group ${group}`);
        continue;
      } catch {
        // an older kernel: one by one below
      }
      for (const { event } of created.filter((entry) => entry.group === group)) {
        try {
          this.write(`-:${group}/${event}`, `cannot remove probe ${group}/${event}`);
        } catch (error) {
          process.stderr.write(`warning: ${(error as Error).message}\n`);
        }
      }
    }
  }

  private write(line: string, describe: string): void {
    try {
      appendFileSync(join(this.root, this.file), line + '\n');
    } catch (error) {
      const reason = lastUprobeError(this.root) ?? (error as NodeJS.ErrnoException).message;
      throw new TracefsError(`${describe}: ${reason}`);
    }
  }
}

/** The newest entry of the top-level error_log (probe definition writes report there). */
function lastUprobeError(root: string): string | undefined {
  try {
    const lines = readFileSync(join(root, 'error_log'), 'latin1').trim().split('\n');
    const entry = [...lines].reverse().find((line) => /\berror:/.test(line));
    return entry?.replace(/^.*\berror:\s*/, '');
  } catch {
    return undefined;
  }
}

/**
 * How often each uprobe has been hit so far, by event name (`uprobe_profile`: file, event
 * and hit count a line; the group is not shown, so probes of the same name add up). Hits
 * count every process's calls, ktap's own included, recorded or not. Empty when unreadable.
 */
export function uprobeHits(root: string): Map<string, number> {
  const hits = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(join(root, 'uprobe_profile'), 'latin1');
  } catch {
    return hits;
  }
  for (const match of text.matchAll(/^\s*\S+ (\S+)\s+(\d+)$/gm)) hits.set(match[1]!, (hits.get(match[1]!) ?? 0) + Number(match[2]));
  return hits;
}

/**
 * Removes uprobe and kprobe definitions of ktap runs that are gone (see staleRunCheck: not
 * those a guardian is still removing).
 */
export function removeStaleProbes(root: string, isStale = staleRunCheck(root)): void {
  for (const file of ['uprobe_events', 'kprobe_events']) {
    let text: string;
    try {
      text = readFileSync(join(root, file), 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const match = /^[pr]:(ktap_(\d+)(?:_\d+)?)\/(\S+)/.exec(line);
      if (match === null || !isStale(Number(match[2]))) continue;
      try {
        appendFileSync(join(root, file), `-:${match[1]}/${match[3]}\n`);
      } catch {
        // still enabled somewhere (an instance of another live run): leave it
      }
    }
  }
}
