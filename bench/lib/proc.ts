/**
 * Running the tools under measurement: wall time (monotonic clock), CPU seconds and the largest process's peak RSS
 * from GNU time (wait4's rusage: the process and every child it reaped), and the peak RSS summed over the whole
 * process tree, sampled from /proc every 200 ms (what a pod's memory limit would see, minus page cache).
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export interface User {
  uid: number;
  gid: number;
}

export interface Measured {
  code: number | null;
  wallSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** user + system, of the process and every child it waited for (pg_basebackup, pgBackRest's local workers...). */
  cpuSeconds: number;
  /** GNU time's %M: peak RSS of the largest single process of the tree. */
  maxRssMiB: number;
  /** Peak of the RSS summed over the process tree, sampled every 200 ms. */
  peakTreeRssMiB: number;
  /** Peak RSS per program name (comm), for the record. */
  peakByProgram: Record<string, number>;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  user?: User;
  cwd?: string;
  /** Send stdout to this file descriptor (e.g. /dev/null) instead of collecting it. */
  stdoutFd?: number;
  timeoutMs?: number;
  /** Where GNU time writes its figures (must be writable by `user`). */
  scratchDir: string;
}

let counter = 0;

/** Runs `cmd args` under GNU time and a /proc sampler. Never throws for a non-zero exit: check `code`. */
export async function measure(cmd: string, args: string[], opts: RunOptions): Promise<Measured> {
  const timeFile = path.join(opts.scratchDir, `time-${process.pid}-${++counter}.txt`);
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? opts.scratchDir,
    uid: opts.user?.uid,
    gid: opts.user?.gid,
    stdio: ['ignore', opts.stdoutFd ?? 'pipe', 'pipe'],
  });
  const sampler = new TreeSampler(child.pid!, 200);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', d => {
    stdout += d;
    if (stdout.length > 4_000_000) stdout = stdout.slice(-2_000_000);
  });
  child.stderr?.on('data', d => {
    stderr += d;
    if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
  });
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs)
    timer = setTimeout(() => {
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, opts.timeoutMs);
  const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)));
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (timer) clearTimeout(timer);
  const peak = sampler.stop();
  let user = NaN,
    system = NaN,
    maxRssKiB = NaN;
  try {
    const lines = fs.readFileSync(timeFile, 'utf8').trim().split('\n');
    const last = lines[lines.length - 1].trim().split(/\s+/).map(Number);
    [, user, system, maxRssKiB] = last;
    fs.rmSync(timeFile, { force: true });
  } catch {
    /* time did not write it (killed) */
  }
  return {
    code,
    wallSeconds,
    userSeconds: user,
    systemSeconds: system,
    cpuSeconds: user + system,
    maxRssMiB: maxRssKiB / 1024,
    peakTreeRssMiB: peak.peakKiB / 1024,
    peakByProgram: Object.fromEntries(Object.entries(peak.byProgram).map(([k, v]) => [k, round(v / 1024, 1)])),
    stdout,
    stderr,
  };
}

/** execFile, resolved with stdout; rejects with stderr in the message. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; user?: User; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        env: opts.env ?? process.env,
        uid: opts.user?.uid,
        gid: opts.user?.gid,
        cwd: opts.cwd,
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 0,
      },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(
              `${path.basename(cmd)} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${String(stderr).slice(-3000)}\n${String(stdout).slice(-1000)}`,
            ),
          );
        else resolve(String(stdout));
      },
    );
  });
}

/** parent pid of every process, from /proc/<pid>/stat. */
function processTable(): Map<number, { ppid: number; comm: string }> {
  const out = new Map<number, { ppid: number; comm: string }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      out.set(Number(name), { ppid, comm });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** The pid and every descendant of it. */
export function descendants(root: number, table = processTable()): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(pid);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    if (!table.has(p)) continue;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM...), 0 if gone. */
export function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size in KiB (shared pages divided among the processes that map them), 0 if gone. */
export function pssKiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Samples the summed RSS of a process tree (the root itself excluded when it is GNU time). */
export class TreeSampler {
  private peak = 0;
  private readonly byProgram: Record<string, number> = {};
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly root: number,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const table = processTable();
    let sum = 0;
    for (const pid of descendants(this.root, table)) {
      const comm = table.get(pid)!.comm;
      if (pid === this.root && comm === 'time') continue;
      const rss = statusKiB(pid, 'VmRSS');
      sum += rss;
      this.byProgram[comm] = Math.max(this.byProgram[comm] ?? 0, rss);
    }
    this.peak = Math.max(this.peak, sum);
  }

  stop(): { peakKiB: number; byProgram: Record<string, number> } {
    clearInterval(this.timer);
    return { peakKiB: this.peak, byProgram: this.byProgram };
  }
}

export const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);
export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
