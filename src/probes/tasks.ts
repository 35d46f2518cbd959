// Who a thread id is: its command name (comm), process id (tgid) and uid. A record carries
// only the thread id (SPEC §8), so tasks created while tracing are learned from the kernel's
// own task_newtask/task_rename events, in event order, and older ones from /proc.

import { readFileSync } from 'node:fs';

/** clone(2)'s CLONE_THREAD: the new task is a thread of its parent's process. */
const CLONE_THREAD = 0x10000;
/** The comm of a task we cannot find anywhere (what the kernel's trace output prints). */
export const UNKNOWN_COMM = '<...>';

interface TaskInfo {
  comm: string | undefined;
  tgid: number;
  uid: number | undefined;
}

/**
 * Tasks remembered at most, twice over (see TaskTable): a storm of short-lived processes
 * (a fork+exec loop makes thousands a second) would otherwise grow the table without end.
 */
export const TASKS_PER_GENERATION = 32_768;

/**
 * Two generations of tasks: a task is looked up in the young one, then the old one (and
 * moves to the young one when found there). When the young one is full it becomes the old
 * one and the oldest are forgotten: at most 2 × TASKS_PER_GENERATION entries, and a task
 * still making events keeps its entry. A task forgotten while alive is read from /proc again.
 */
class Generations {
  private young = new Map<number, TaskInfo>();
  private old = new Map<number, TaskInfo>();

  constructor(private readonly perGeneration: number) {}

  get(tid: number): TaskInfo | undefined {
    const task = this.young.get(tid);
    if (task !== undefined) return task;
    const older = this.old.get(tid);
    if (older !== undefined) {
      this.old.delete(tid);
      this.set(tid, older);
    }
    return older;
  }

  set(tid: number, task: TaskInfo): void {
    if (this.young.size >= this.perGeneration && !this.young.has(tid)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(tid, task);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}

export class TaskTable {
  private readonly tasks: Generations;

  constructor(private readonly savedCmdlines: () => string = () => '', perGeneration = TASKS_PER_GENERATION) {
    this.tasks = new Generations(perGeneration);
  }

  /** Tasks remembered now (at most twice the generation size). */
  get size(): number {
    return this.tasks.size;
  }

  /** task_newtask: `pid` was created by the recording task `parentTid` with `cloneFlags`. */
  taskCreated(parentTid: number, pid: number, comm: string, cloneFlags: number | bigint): void {
    const isThread = (Number(BigInt(cloneFlags) & BigInt(CLONE_THREAD))) !== 0;
    const parent = this.tasks.get(parentTid);
    this.tasks.set(pid, {
      comm,
      tgid: isThread ? this.tgid(parentTid) : pid,
      uid: parent?.uid,
    });
  }

  /** task_rename (exec, prctl PR_SET_NAME): the task's comm changed. */
  taskRenamed(pid: number, newComm: string): void {
    const task = this.tasks.get(pid);
    if (task !== undefined) task.comm = newComm;
    else this.tasks.set(pid, { comm: newComm, tgid: this.tgid(pid), uid: undefined });
  }

  /** What BPF saw of the task at one of its events: its process and name at that moment. */
  taskSeen(tid: number, tgid: number, comm: string): void {
    const task = this.tasks.get(tid);
    if (task !== undefined) {
      task.comm = comm;
      task.tgid = tgid;
    } else this.tasks.set(tid, { comm, tgid, uid: undefined });
  }

  comm(tid: number): string {
    const task = this.tasks.get(tid);
    if (task?.comm !== undefined) return task.comm;
    const comm = readProc(`/proc/${tid}/comm`)?.trimEnd() ?? this.fromSavedCmdlines(tid) ?? UNKNOWN_COMM;
    if (task !== undefined) task.comm = comm;
    else this.tasks.set(tid, { comm, tgid: this.tgidFromProc(tid), uid: undefined });
    return comm;
  }

  tgid(tid: number): number {
    if (tid === 0) return 0;
    const task = this.tasks.get(tid);
    if (task !== undefined) return task.tgid;
    const tgid = this.tgidFromProc(tid);
    this.tasks.set(tid, { comm: undefined, tgid, uid: undefined });
    return tgid;
  }

  /** The task's real uid, -1 when it is gone and nothing was learned earlier. */
  uid(tid: number): number {
    const task = this.tasks.get(tid);
    if (task?.uid !== undefined) return task.uid;
    const status = readProc(`/proc/${tid}/status`);
    const match = status === undefined ? null : /^Uid:\s+(\d+)/m.exec(status);
    const uid = match === null ? -1 : Number(match[1]);
    if (task !== undefined && uid >= 0) task.uid = uid;
    return uid;
  }

  private tgidFromProc(tid: number): number {
    const status = readProc(`/proc/${tid}/status`);
    const match = status === undefined ? null : /^Tgid:\s+(\d+)/m.exec(status);
    return match === null ? tid : Number(match[1]);
  }

  /** The kernel's saved_cmdlines (`PID COMM` lines): names of tasks that recorded events. */
  private fromSavedCmdlines(tid: number): string | undefined {
    const prefix = `${tid} `;
    for (const line of this.savedCmdlines().split('\n')) {
      if (line.startsWith(prefix)) return line.slice(prefix.length);
    }
    return undefined;
  }
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}
