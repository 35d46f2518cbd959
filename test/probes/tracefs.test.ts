// tracefs on the real kernel: a private instance and its files, the kernel's reasons for
// refused writes, removal on every way out (incl. SIGKILL then the next run, which leaves a
// dead run to its guardian while that is at work), and non-root.

import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  cpuMask, findTracefs, Instance, lastErrorLogMessage, PERMISSION_MESSAGE, registerCleanup,
  removeStaleInstances, runCleanups, TracefsError,
} from '../../src/probes/tracefs';
import { ElfFile } from '../../src/probes/elf';
import { removeStaleProbes } from '../../src/probes/uprobe';

const REPOSITORY = join(__dirname, '..', '..');
const TRACEFS_MODULE = join(REPOSITORY, 'src', 'probes', 'tracefs.ts');

t.test('cpuMask: the kernel bitmap format', async (t) => {
  t.equal(cpuMask([]), '0');
  t.equal(cpuMask([0]), '1');
  t.equal(cpuMask([0, 1]), '3');
  t.equal(cpuMask([31]), '80000000');
  t.equal(cpuMask([32]), '1,00000000');
  t.equal(cpuMask([40, 1]), '100,00000002');
  t.throws(() => cpuMask([-1]), TracefsError);
});

t.test('lastErrorLogMessage: the message of the last entry', async (t) => {
  const log = [
    '[ 2436.318786] event filter parse error: error: Invalid value (did you forget quotes)?',
    '  Command: fd ==',
    '                 ^',
    '[ 2436.337030] event filter parse error: error: Invalid operator',
    '  Command: fd = 3',
    '               ^',
    '',
  ].join('\n');
  t.equal(lastErrorLogMessage(log), 'Invalid operator');
  t.equal(lastErrorLogMessage('[   12.000001] trace_uprobe: error: File not found\n  Command: p /x:0\n'), 'File not found');
  t.equal(lastErrorLogMessage(''), undefined);
});

t.test('cleanup registry: latest first, each once, failures reported', async (t) => {
  const order: string[] = [];
  registerCleanup(() => order.push('first'));
  const unregister = registerCleanup(() => order.push('dropped'));
  registerCleanup(() => {
    throw new Error('boom');
  });
  registerCleanup(() => order.push('last'));
  unregister();
  runCleanups();
  runCleanups();
  t.same(order, ['last', 'first']);
});

let root: string;
try {
  root = findTracefs();
} catch (error) {
  root = '';
  t.skip(`tracefs unavailable: ${(error as Error).message}`, () => {});
}

if (root !== '') {
  const instancesDirectory = join(root, 'instances');
  const children: ChildProcess[] = [];
  const before = readdirSync(instancesDirectory);
  const topLevelEvents = readFileSync(join(root, 'set_event'), 'utf8');

  /** Instances this test made: of this process or of a child it started. */
  const ours = (): string[] => {
    const pids = [process.pid, ...children.map((child) => child.pid)];
    return readdirSync(instancesDirectory).filter((name) => pids.some((pid) => name.startsWith(`ktap-${pid}-`)));
  };

  t.teardown(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    runCleanups();
  });

  t.test('instance: created by name, events, filters, the kernel reasons', async (t) => {
    const instance = Instance.create(root);
    t.teardown(() => instance.remove());
    t.match(instance.name, new RegExp(`^ktap-${process.pid}-\\d+$`));
    t.ok(existsSync(instance.directory), 'directory made');
    t.equal(instance.path('trace'), join(root, 'instances', instance.name, 'trace'));

    instance.enableEvent('sched', 'sched_switch');
    t.equal(instance.read('events/sched/sched_switch/enable'), '1\n');
    t.equal(instance.read('set_event'), 'sched:sched_switch\n');
    instance.setFilter('sched', 'sched_switch', 'prev_pid != 0 && next_comm ~ "k*"');
    t.equal(instance.read('events/sched/sched_switch/filter'), 'prev_pid != 0 && next_comm ~ "k*"\n');

    // The kernel logs refused filters in the instance's own error_log.
    const refused = t.throws(() => instance.setFilter('sched', 'sched_switch', 'x =='), TracefsError) as Error;
    t.match(refused.message, /^kernel rejected filter 'x ==' for sched:sched_switch: \S/);
    t.notMatch(refused.message, /invalid argument$/, 'the reason is the kernel\'s, not the errno');
    t.equal(instance.read('error_log'), '', 'error_log emptied after reading the reason');
    const second = t.throws(() => instance.setFilter('sched', 'sched_switch', 'prev_pid = 3'), TracefsError) as Error;
    t.equal(second.message, `kernel rejected filter 'prev_pid = 3' for sched:sched_switch: ${'Invalid operator'}`);

    // Refusals the kernel does not log fall back to the errno.
    t.throws(() => instance.setTraceClock('no-such-clock'), {
      name: 'TracefsError',
      message: "cannot write 'no-such-clock' to trace_clock: invalid argument",
    });
    t.throws(() => instance.enableEvent('no_such_system', 'nothing'), {
      message: /^cannot enable no_such_system:nothing: no such file or directory$/,
    });
    instance.disableEvent('sched', 'sched_switch');
    t.equal(instance.read('events/sched/sched_switch/enable'), '0\n');
  });

  t.test('instance: pid filter, CPU mask, buffer size, clock, options', async (t) => {
    const instance = Instance.create(root);
    t.teardown(() => instance.remove());
    instance.setEventPid([process.pid, 1], true);
    t.same(instance.read('set_event_pid').trim().split('\n').map(Number).sort((a, b) => a - b), [1, process.pid]);
    t.equal(instance.read('options/event-fork'), '1\n');
    instance.setEventPid([process.pid], false);
    t.equal(instance.read('set_event_pid'), `${process.pid}\n`, 'a new list replaces the old');
    t.equal(instance.read('options/event-fork'), '0\n');

    const cpus = instance.cpuCount();
    t.equal(cpus, readdirSync(instance.path('per_cpu')).length);
    t.ok(cpus > 0);
    instance.setCpuMask([0]);
    t.equal(parseInt(instance.read('tracing_cpumask').replace(/,/g, ''), 16), 1);
    instance.setCpuMask([...Array(cpus).keys()]);
    t.equal(parseInt(instance.read('tracing_cpumask').replace(/,/g, ''), 16), 2 ** cpus - 1);

    instance.setBufferSizeKb(64);
    const size = Number(instance.read('buffer_size_kb').trim());
    t.ok(size >= 64 && size < 128, `buffer_size_kb ${size} holds 64 KiB, rounded up to pages`);
    instance.setTraceClock('mono');
    t.match(instance.read('trace_clock'), /\[mono\]/);
    instance.setOption('record-tgid', true);
    t.equal(instance.read('options/record-tgid'), '1\n');
  });

  t.test('remove: nothing left, idempotent, top level untouched', async (t) => {
    const instance = Instance.create(root);
    instance.enableEvent('sched', 'sched_switch');
    instance.enableEvent('syscalls', 'sys_enter_getppid');
    instance.setFilter('syscalls', 'sys_enter_getppid', 'common_pid == 1');
    instance.setEventPid([process.pid], true);
    instance.remove();
    t.notOk(existsSync(instance.directory), 'directory removed');
    instance.remove();
    t.same(ours(), [], 'no ktap-* instance of ours');
    t.equal(readFileSync(join(root, 'set_event'), 'utf8'), topLevelEvents, 'top-level events as they were');

    const viaRegistry = Instance.create(root);
    runCleanups();
    t.notOk(existsSync(viaRegistry.directory), 'runCleanups removes created instances');
  });

  t.test('a reader holding a pipe open: remove waits for it', async (t) => {
    const instance = Instance.create(root);
    const reader = spawn('sh', ['-c', `exec 3< '${instance.path('per_cpu/cpu0/trace_pipe_raw')}'; sleep 0.2`]);
    children.push(reader);
    await new Promise((resolve) => setTimeout(resolve, 100));
    instance.remove();
    t.notOk(existsSync(instance.directory), 'removed once the pipe closed');
  });

  /** Starts a node child that loads tracefs.ts and runs CODE, with tap's hooks kept away. */
  function startChild(code: string, prefix: string[] = []): ChildProcess {
    const { NODE_OPTIONS: _tapHooks, ...environment } = process.env;
    const command = [...prefix, process.execPath, '--import=tsx', '-e', `const tracefs = require(${JSON.stringify(TRACEFS_MODULE)});\n${code}`];
    const child = spawn(command[0]!, command.slice(1), { cwd: REPOSITORY, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }

  function firstLine(child: ChildProcess): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('\n')) resolve(text.split('\n')[0]!);
      });
      child.on('exit', () => reject(new Error(`child ended before a line: ${text}`)));
    });
  }

  function exited(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.on('exit', () => resolve()));
  }

  t.test('SIGKILL mid-run: the next run removes the stale instance', async (t) => {
    const child = startChild(
      "const instance = tracefs.Instance.create(tracefs.findTracefs());\n" +
        "instance.enableEvent('sched', 'sched_switch');\n" +
        "console.log(instance.name);\n" +
        'setInterval(() => {}, 1e6);',
    );
    const name = await firstLine(child);
    t.match(name, new RegExp(`^ktap-${child.pid}-0$`));
    t.ok(existsSync(join(instancesDirectory, name)));
    const live = Instance.create(root);
    t.teardown(() => live.remove());

    t.notOk(removeStaleInstances(root).includes(name), 'a live run keeps its instance');
    t.ok(existsSync(join(instancesDirectory, name)));

    child.kill('SIGKILL');
    await exited(child);
    t.ok(existsSync(join(instancesDirectory, name)), 'SIGKILL leaves it behind');
    t.ok(removeStaleInstances(root).includes(name), 'reported as removed');
    t.notOk(existsSync(join(instancesDirectory, name)), 'stale instance removed');
    t.ok(existsSync(live.directory), 'our own live instance stays');
  });

  t.test('a dead run whose guardian is still at work is not stale: the guardian removes it', async (t) => {
    // A pid that is gone, and an instance and a probe of a run that had it.
    const gone = spawn('/bin/true');
    await exited(gone);
    const pid = gone.pid!;
    const name = `ktap-${pid}-0`;
    mkdirSync(join(instancesDirectory, name));
    t.teardown(() => rmSync(join(instancesDirectory, name), { recursive: false, force: true }));
    const libc = /\s(\/\S*\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'latin1'))?.[1];
    const withProbe = libc !== undefined && existsSync(join(root, 'uprobe_events'));
    const probeLine = (): boolean => readFileSync(join(root, 'uprobe_events'), 'latin1').includes(`ktap_${pid}/`);
    if (withProbe) {
      const elf = ElfFile.open(libc);
      const offset = elf.addressToFileOffset(elf.findSymbols('xdr_void')[0]!.address)!;
      appendFileSync(join(root, 'uprobe_events'), `p:ktap_${pid}/xdr_void ${libc}:0x${offset.toString(16)}\n`);
      t.teardown(() => (probeLine() ? appendFileSync(join(root, 'uprobe_events'), `-:ktap_${pid}/\n`) : undefined));
    }
    // Its guardian (as guardian.ts starts it: /bin/sh -c SCRIPT ktap-guardian TRACEFS PID).
    const guardian = spawn('/bin/sh', ['-c', 'read -r _', 'ktap-guardian', root, String(pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
    t.teardown(() => guardian.kill('SIGKILL'));
    await new Promise((resolve) => guardian.on('spawn', resolve));

    t.notOk(removeStaleInstances(root).includes(name), 'the instance is left to its guardian');
    t.ok(existsSync(join(instancesDirectory, name)), 'and is still there');
    if (withProbe) {
      removeStaleProbes(root);
      t.ok(probeLine(), 'so is the probe definition');
    }

    guardian.stdin!.end();
    await exited(guardian);
    t.ok(removeStaleInstances(root).includes(name), 'once the guardian is gone, it is stale');
    t.notOk(existsSync(join(instancesDirectory, name)), 'and removed');
    if (withProbe) {
      removeStaleProbes(root);
      t.notOk(probeLine(), 'the probe too');
    }
  });

  for (const [how, code] of [
    ['a normal end', ''],
    ['process.exit()', 'process.exit(3);'],
    ['an uncaught exception', "throw new Error('uncaught');"],
  ] as const) {
    t.test(`the exit hook removes the instance after ${how}`, async (t) => {
      const child = startChild(
        'const instance = tracefs.Instance.create(tracefs.findTracefs());\n' +
          "instance.enableEvent('sched', 'sched_switch');\n" +
          'console.log(instance.name);\n' +
          code,
      );
      const stderr: Buffer[] = [];
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      const name = await firstLine(child);
      await exited(child);
      t.notOk(existsSync(join(instancesDirectory, name)), `${name} gone`);
      t.notMatch(Buffer.concat(stderr).toString(), /warning:/, 'no cleanup warnings');
    });
  }

  t.test('non-root gets the one clear line', async (t) => {
    const dropper = ['setpriv', 'runuser'].find((tool) => spawnSync('which', [tool]).status === 0);
    if (dropper === undefined) {
      t.skip('neither setpriv nor runuser to drop root', () => {});
      return;
    }
    const prefix =
      dropper === 'setpriv'
        ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
        : ['runuser', '-u', 'nobody', '--'];
    const child = startChild(
      'try { tracefs.findTracefs(); console.log("found"); }\n' +
        'catch (error) { console.log(`${error.name}: ${error.message}`); }',
      prefix,
    );
    const line = await firstLine(child);
    await exited(child);
    t.equal(line, `TracefsError: ${PERMISSION_MESSAGE}`);
  });

  t.test('instances as they were found', async (t) => {
    t.same(ours(), []);
    const now = new Set(readdirSync(instancesDirectory));
    const missing = before.filter((name) => !now.has(name) && !/^ktap-/.test(name));
    t.same(missing, [], 'nothing but dead runs\' instances went away');
  });
}
