/**
 * Progress of long work (a base backup, a restore): bytes done, percent, rate and ETA. Logged as one line every few
 * seconds; when a person watches (stderr is a terminal) a one-line bar on stderr instead, redrawn in place. The
 * figures are computed by {@link progressFields}, a pure function, so both forms say the same.
 */
import { log } from './log';

/** Seconds between progress lines (decimals allowed); tests shorten it. Not in the manifests: the default fits. */
export const PROGRESS_INTERVAL_ENV = 'PGC_PROGRESS_SECONDS';
const DEFAULT_INTERVAL_MS = 5000;
const BAR_INTERVAL_MS = 500;
const BAR_WIDTH = 24;
const MiB = 1024 * 1024;

export interface ProgressReading {
  /** Bytes done so far (what the percent counts). */
  done: number;
  /** Total expected, 0 when unknown (the percent and ETA are left out then). */
  total: number;
  /** Extra byte figures to log with the line (e.g. storedBytes). */
  extra?: Record<string, number | undefined>;
}

export interface ProgressFields extends Record<string, number | undefined> {
  doneBytes: number;
  totalBytes?: number;
  percent?: number;
  rateMiBps: number;
  etaSeconds?: number;
}

export function progressFields(r: ProgressReading, elapsedSeconds: number): ProgressFields {
  const rate = elapsedSeconds > 0 ? r.done / elapsedSeconds : 0;
  const total = r.total ? Math.max(r.total, r.done) : 0;
  return {
    doneBytes: r.done,
    ...(r.extra ?? {}),
    totalBytes: total || undefined,
    percent: total ? Math.min(100, Math.round((r.done / total) * 100)) : undefined,
    rateMiBps: Number((rate / MiB).toFixed(1)),
    etaSeconds: total && rate > 0 ? Math.round((total - r.done) / rate) : undefined,
  };
}

/** `[##########--------------]  42%  120.0 of 286.5 MiB  12.3 MiB/s  ETA 14 s  restore` */
export function progressBar(what: string, f: ProgressFields): string {
  const filled = f.percent === undefined ? 0 : Math.round((f.percent / 100) * BAR_WIDTH);
  const bar = f.percent === undefined ? '?'.repeat(BAR_WIDTH) : '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
  const mib = (n: number) => (n / MiB).toFixed(1);
  const amount = f.totalBytes ? `${mib(f.doneBytes)} of ${mib(f.totalBytes)} MiB` : `${mib(f.doneBytes)} MiB`;
  const pct = f.percent === undefined ? '  ?%' : `${String(f.percent).padStart(3)}%`;
  const eta = f.etaSeconds === undefined ? '' : `  ETA ${f.etaSeconds} s`;
  return `[${bar}] ${pct}  ${amount}  ${f.rateMiBps} MiB/s${eta}  ${what}`;
}

export type ProgressSink = (fields: Record<string, number | undefined>, msg: string) => void;

export interface ProgressOptions {
  /** Log message of each line, e.g. `restore in progress`; also the bar's label. */
  msg: string;
  intervalMs?: number;
  sink?: ProgressSink;
  /** Draw a bar on this terminal instead of logging. Default: stderr when it is a TTY and no sink was given. */
  tty?: NodeJS.WriteStream;
}

export function progressIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env[PROGRESS_INTERVAL_ENV]);
  return Number.isFinite(v) && v > 0 ? Math.round(v * 1000) : DEFAULT_INTERVAL_MS;
}

/** Starts reporting; the returned function stops it (and ends the bar's line). */
export function startProgress(read: () => ProgressReading, opts: ProgressOptions): () => void {
  const started = Date.now();
  const tty = opts.tty ?? (!opts.sink && process.stderr.isTTY ? process.stderr : undefined);
  const sink = opts.sink ?? ((fields, msg) => log.info(fields, msg));
  const tick = () => {
    const f = progressFields(read(), (Date.now() - started) / 1000);
    if (tty) tty.write(`\r${progressBar(opts.msg, f)}\x1b[K`);
    else sink(f, opts.msg);
  };
  const timer = setInterval(tick, tty ? BAR_INTERVAL_MS : (opts.intervalMs ?? progressIntervalMs()));
  timer.unref();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (tty) {
      tick();
      tty.write('\n');
    }
  };
}
