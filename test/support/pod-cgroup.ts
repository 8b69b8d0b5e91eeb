/**
 * What a container runtime gives a pod and a process group does not: one handle on every process the pod started.
 * PostgreSQL's children call setsid(), so `kill(-pgid)` misses the backends, the walreceiver and the archiver, and
 * SIGSTOP of the postmaster freezes nothing else. A killed container loses all of them at once; a frozen one
 * (cgroup freezer, as `docker pause` / a node stall) stops all of them.
 *
 * Each pod gets a freezer cgroup (v1 hierarchy or v2's unified one, whichever this machine mounts writable) and its
 * first process is moved into it right after spawn, before it can fork: every descendant is in it too.
 * Where no writable freezer exists (tests run as a non-root user), the fallback walks the process tree by parent
 * PID (setsid does not change the parent) and signals every process in it, stopping them first so none forks away.
 */
import * as fs from 'fs';
import * as path from 'path';

interface Freezer {
  root: string;
  /** Writes the state: v1 `freezer.state` FROZEN/THAWED, v2 `cgroup.freeze` 1/0. */
  freeze(dir: string, frozen: boolean): void;
  frozen(dir: string): boolean;
}

const V1 = '/sys/fs/cgroup/freezer';
const V2_CANDIDATES = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'];

function probe(): Freezer | undefined {
  const writable = (dir: string) => {
    try {
      const test = path.join(dir, `pgc-probe-${process.pid}`);
      fs.mkdirSync(test);
      fs.rmdirSync(test);
      return true;
    } catch {
      return false;
    }
  };
  if (fs.existsSync(path.join(V1, 'tasks')) && writable(V1)) {
    return {
      root: V1,
      freeze: (dir, frozen) => fs.writeFileSync(path.join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED'),
      frozen: dir => fs.readFileSync(path.join(dir, 'freezer.state'), 'utf8').trim() === 'FROZEN',
    };
  }
  for (const root of V2_CANDIDATES) {
    if (!fs.existsSync(path.join(root, 'cgroup.controllers')) || !writable(root)) continue;
    return {
      root,
      freeze: (dir, frozen) => fs.writeFileSync(path.join(dir, 'cgroup.freeze'), frozen ? '1' : '0'),
      frozen: dir => /frozen 1/.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8')),
    };
  }
  return undefined;
}

let freezer: Freezer | undefined | null = null;
function getFreezer(): Freezer | undefined {
  if (freezer === null) freezer = probe();
  return freezer;
}

let counter = 0;
/** Pods of this test process: whatever a test left running goes with the process, not after it. */
const live = new Set<PodProcesses>();
process.once('exit', () => {
  for (const pod of live) {
    pod.kill();
    pod.release();
  }
});

/** All processes of one pod: the spawned agent and everything it starts. */
export class PodProcesses {
  private readonly dir?: string;
  /** The cgroup is gone (every process ended): nothing left to signal. */
  private released = false;

  constructor(
    readonly rootPid: number,
    label: string,
  ) {
    const f = getFreezer();
    if (f) {
      // Unique across the test files one jest worker runs in turn (each gets fresh module state, same pid).
      const unique = `${process.pid}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
      this.dir = path.join(f.root, `pgc-${unique}-${label.replace(/[^a-z0-9-]/gi, '')}`);
      fs.mkdirSync(this.dir);
      fs.writeFileSync(path.join(this.dir, 'cgroup.procs'), String(rootPid));
    }
    live.add(this);
  }

  /** How this machine confines a pod's processes (printed by the soak). */
  static mechanism(): string {
    const f = getFreezer();
    return f ? `freezer cgroup under ${f.root}` : 'process tree by parent PID (no writable freezer cgroup)';
  }

  /** Every live process of the pod. */
  pids(): number[] {
    if (this.released) return [];
    if (this.dir) {
      try {
        return fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    }
    return descendants(this.rootPid);
  }

  /** SIGKILL to every process of the pod at once, as a container kill or a node loss. */
  kill(): void {
    // Frozen first, so no process forks or reacts between the signals; killed while frozen; then thawed so the
    // kernel delivers the kills.
    this.setFrozen(true);
    for (const pid of this.pids()) signal(pid, 'SIGKILL');
    this.setFrozen(false);
  }

  /** Freezes (true) or thaws (false) every process of the pod: a stalled node, `docker pause`. */
  setFrozen(frozen: boolean): void {
    if (this.released) return;
    const f = getFreezer();
    if (f && this.dir) {
      f.freeze(this.dir, frozen);
      if (frozen) {
        // v1 may report FREEZING while tasks settle.
        const deadline = Date.now() + 2000;
        while (!f.frozen(this.dir) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
      return;
    }
    // Fallback: stop (or continue) the whole tree, parents first so none spawns a child we did not see.
    for (let round = 0; round < 3; round++) for (const pid of descendants(this.rootPid)) signal(pid, frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Removes the cgroup once its processes are gone. */
  release(): void {
    live.delete(this);
    if (!this.dir || this.released) return;
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(this.dir);
        this.released = true;
        return;
      } catch {
        if (this.pids().length) this.kill();
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** `root` and every process whose parent chain leads to it (from /proc). */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(entry), Number(fields[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const alive = parent.has(root);
  if (alive) out.push(root);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!out.includes(pid) && out.includes(ppid)) {
        out.push(pid);
        grew = true;
      }
    }
  }
  return out;
}
