// The task table: names learned from task_newtask/task_rename, and a bound on how many
// tasks it remembers, so that a storm of short-lived processes cannot grow it without end.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { TaskTable, UNKNOWN_COMM } from '../../src/probes/tasks';

// Thread ids above any pid_max: /proc knows none of them, so only the table can name them.
const GHOST = 5_000_000;

t.test('names learned from events; a thread shares its process id', async (t) => {
  const tasks = new TaskTable();
  tasks.taskCreated(process.pid, GHOST + 1, 'worker', 0);
  tasks.taskCreated(GHOST + 1, GHOST + 2, 'worker', 0x10000);
  tasks.taskRenamed(GHOST + 1, 'renamed');
  t.equal(tasks.comm(GHOST + 1), 'renamed');
  t.equal(tasks.tgid(GHOST + 2), GHOST + 1, 'CLONE_THREAD: the parent’s process');
  t.equal(tasks.tgid(GHOST + 1), GHOST + 1);
  t.equal(tasks.comm(GHOST + 9), UNKNOWN_COMM, 'never seen, not in /proc');
});

t.test('at most two generations of tasks; a task still making events keeps its name', async (t) => {
  const tasks = new TaskTable(() => '', 4);
  tasks.taskCreated(process.pid, GHOST, 'busy', 0);
  for (let index = 1; index <= 100; index++) {
    tasks.taskCreated(process.pid, GHOST + index, `short${index}`, 0);
    if (index % 3 === 0) t.equal(tasks.comm(GHOST), 'busy');
    t.ok(tasks.size <= 8, `${tasks.size} tasks remembered`);
  }
  t.equal(tasks.comm(GHOST + 100), 'short100', 'the newest are remembered');
  t.equal(tasks.comm(GHOST + 1), UNKNOWN_COMM, 'the oldest are forgotten');
  t.equal(tasks.comm(process.pid), readFileSync('/proc/self/comm', 'latin1').trimEnd(), 'a live task forgotten is read from /proc again');
});
