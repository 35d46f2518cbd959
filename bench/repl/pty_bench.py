#!/usr/bin/env python3
"""REPL benchmark driver: runs `ktap` on a real pseudo-terminal and times what a user feels.

  pty_bench.py attach KTAP SESSIONS REATTACHES
      Enter-to-"attached" time of `trace syscalls:sys_enter_* {}`: in each fresh session the
      first attach (creates the tracing instance), then `.detach all` and attach again.
  pty_bench.py echo KTAP LOAD RATE KEYS [PRINT_EVERY]
      keystroke echo latency: KEYS keys typed one by one (10-30 ms apart) while, unless RATE
      is 0, LOAD makes RATE getppid() calls a second, each counted by `{ n += 1 }` (the probe
      filtered to LOAD's pid in the kernel, so other processes add nothing); with
      PRINT_EVERY, every PRINT_EVERY-th call also prints a line above the line being typed.

KTAP is the path of bin/ktap. Prints one JSON object on stdout.
"""

import fcntl
import json
import os
import pty
import random
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

PROMPT = b'ktap> '


class Terminal:
    """ktap as the foreground process of a new 120x40 pseudo-terminal."""

    def __init__(self, ktap, args=()):
        pid, fd = pty.fork()
        if pid == 0:
            env = dict(os.environ)
            env.pop('NODE_OPTIONS', None)
            env['HOME'] = os.environ.get('KTAP_BENCH_HOME', '/tmp')
            env['TERM'] = 'xterm-256color'
            node = os.environ.get('KTAP_BENCH_NODE', 'node')
            os.execvpe(node, [node, ktap, *args], env)
        self.pid = pid
        self.fd = fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
        self.seen = b''

    def read_until(self, pattern, timeout=20.0):
        """Reads until `pattern` (bytes regex) matches what came since the last match; returns the match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.seen)
            if match:
                self.seen = self.seen[match.end():]
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f'no {pattern!r} in {self.seen[-400:]!r}')
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b''
                if not chunk:
                    raise EOFError(f'ktap ended; last output {self.seen[-400:]!r}')
                self.seen += chunk

    def _drop_output(self, wait):
        """Reads and drops what arrives within `wait` seconds; False when nothing did (or at EOF)."""
        if not select.select([self.fd], [], [], max(wait, 0))[0]:
            return False
        try:
            return bool(os.read(self.fd, 65536))
        except OSError:
            return False

    def drain(self, quiet=0.05):
        """Reads whatever arrives until the terminal has been quiet for `quiet` seconds."""
        while self._drop_output(quiet):
            pass
        self.seen = b''

    def discard_for(self, seconds):
        """Reads and drops output for `seconds`, as a terminal emulator keeps reading."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self._drop_output(left) and select.select([self.fd], [], [], 0)[0]:
                break  # EOF: ktap is gone
        self.seen = b''

    def write(self, data):
        os.write(self.fd, data)

    def prompt(self):
        # node:readline draws it as ESC[1G ESC[0J `ktap> ` ESC[7G (column 7: after the prompt).
        self.read_until(re.escape(PROMPT) + rb'(?:\x1b\[7G)?$')

    def quit(self):
        """Ctrl-D; waits for the exit status."""
        self.write(b'\x04')
        try:
            while os.read(self.fd, 65536):
                pass
        except OSError:
            pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(values_ms):
    return {
        'count': len(values_ms),
        'min': round(min(values_ms), 2),
        'p50': round(percentile(values_ms, 0.50), 2),
        'p90': round(percentile(values_ms, 0.90), 2),
        'p99': round(percentile(values_ms, 0.99), 2),
        'max': round(max(values_ms), 2),
    }


def measure_attach(ktap, sessions, reattaches):
    first, again, events = [], [], None
    attached = rb'\[(\d+)\] trace syscalls:sys_enter_\* \((\d+) events\)'
    for _ in range(sessions):
        term = Terminal(ktap)
        term.prompt()
        for attempt in range(1 + reattaches):
            term.drain()
            start = time.monotonic()
            term.write(b'trace syscalls:sys_enter_* {}\r')
            match = term.read_until(attached)
            elapsed = (time.monotonic() - start) * 1000
            events = int(match.group(2))
            (first if attempt == 0 else again).append(elapsed)
            term.prompt()
            term.write(b'.detach all\r')
            term.read_until(rb'detached')
            term.prompt()
        status = term.quit()
        if status != 0:
            raise RuntimeError(f'ktap exited {status}')
    return {'events': events, 'first_ms': summary(first), 'reattach_ms': summary(again)}


def cpu_seconds(pid):
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def measure_echo(ktap, load, rate, keys, print_every=0):
    term = Terminal(ktap)
    term.prompt()
    seconds = keys * 0.045 + 3
    generator = subprocess.Popen([load, str(rate), str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    printing = f'if (n % {print_every} == 0) {{ printf("%d\\n", n) }} ' if print_every > 0 else ''
    term.write(f'var n = 0 trace syscalls:sys_enter_getppid /common_pid == {generator.pid}/ {{ n += 1 {printing}}}\r'.encode())
    term.read_until(rb'\[1\] trace syscalls:sys_enter_getppid /common_pid == \d+/ \(1 event\)')
    term.prompt()
    if rate > 0:
        generator.stdin.write('go\n')
        generator.stdin.flush()
        term.discard_for(1.0)  # let the rate settle before the first key
    else:
        generator.kill()
        generator.wait()
        generator = None
    term.drain()
    latencies = []
    # Letters that are neither in the prompt nor in escape sequences or printed numbers, each
    # typed once per line: the first one read back after a key is its echo, whether written
    # alone or in a redraw of the line below new output.
    letters = b'bcdefghijlmnoqrsuvwxyz'
    cpu_before = cpu_seconds(term.pid)
    clock_before = time.monotonic()
    for index in range(keys):
        key = letters[index % len(letters):index % len(letters) + 1]
        start = time.monotonic()
        term.write(key)
        term.read_until(re.escape(key))
        latencies.append((time.monotonic() - start) * 1000)
        if index % len(letters) == len(letters) - 1:  # the alphabet is used up: Ctrl-U clears the line
            term.write(b'\x15')
            term.discard_for(0.03)
        term.discard_for(random.uniform(0.010, 0.030))
    cpu = (cpu_seconds(term.pid) - cpu_before) / (time.monotonic() - clock_before)
    term.write(b'\x15')
    time.sleep(0.05)
    term.drain()
    result = {'rate_asked': rate, 'print_every': print_every, 'echo_ms': summary(latencies), 'ktap_cpu': round(cpu, 3)}
    if generator is not None:
        while generator.poll() is None:
            term.discard_for(0.05)
        calls, elapsed_ns = (int(word) for word in generator.communicate()[0].split())
        result['rate_made'] = round(calls / (elapsed_ns / 1e9))
        result['calls'] = calls
    # Handler runs and lost events, as .probes reports them (after the load has stopped).
    term.discard_for(0.3)
    term.write(b'printf("runs=%d\\n", n)\r')
    result['handler_runs'] = int(term.read_until(rb'runs=(\d+)\r?\n').group(1))
    term.prompt()
    term.write(b'.probes\r')
    result['lost'] = int(term.read_until(rb'events lost: (\d+)').group(1))
    term.prompt()
    status = term.quit()
    if status != 0:
        raise RuntimeError(f'ktap exited {status}')
    return result


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    mode = sys.argv[1]
    if mode == 'attach':
        result = measure_attach(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == 'echo':
        result = measure_echo(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
