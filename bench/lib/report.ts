/**
 * Turns the measurements into bench/results/results.json (everything, every run), results.md (medians, ratios to
 * the best peer, the issue's targets) and chart.svg (hand-written SVG, no dependency). No figure is typed by hand:
 * each one is computed here from the records.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Machine } from './machine';
import { max, mean, median, sum } from './stats';

const MiB = 1024 * 1024;
const SEGMENT = 16 * MiB;

export interface VariantInfo {
  id: string;
  tool: 'agent' | 'pgbackrest' | 'barman';
  label: string;
  compression: string;
  isDefault: boolean;
  archiver: string;
  options: string;
}

export interface BackupRecord {
  round: number;
  variant: string;
  ref: string;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  peakTreeRssMiB: number;
  peakByProgram: Record<string, number>;
  storedBytes: number;
  storedObjects: number;
  pgdataBytes: number;
  load1: number;
}

export interface RestoreRecord {
  round: number;
  variant: string;
  rtoSeconds: number;
  filesSeconds: number;
  recoverySeconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  peakTreeRssMiB: number;
  rowsOk: boolean;
  load1: number;
}

export interface WalRecord {
  run: number;
  archiver: string;
  loadSeconds: number;
  tps: number;
  walWrittenBytes: number;
  segmentsWritten: number;
  segmentsArchivedDuringLoad: number;
  segmentsArchivedTotal: number;
  archivedPerSecond: number;
  writtenPerSecond: number;
  readyMedian: number;
  readyMax: number;
  readyAtEnd: number;
  drainSeconds: number | null;
  keepsUp: boolean;
  failures: number;
  storedBytes: number;
  storedObjects: number;
  bytesPerSegment: number;
  agentRssMaxMiB?: number;
  load1: number;
}

export interface DayRecord {
  day: number;
  transactions: number;
  seconds: number;
  walBytes: number;
  tps: number;
}

export interface MemoryRecord {
  phase: string;
  agentRssMiB: number;
  agentPssMiB: number;
  agentHwmMiB: number;
  /** RssAnon: the process's private memory (heap, buffers), without the mapped node binary. */
  agentAnonMiB: number;
  postgresRssMiB: number;
  postgresPssMiB: number;
  postgresProcesses: number;
}

export interface BenchResults {
  generatedAt: string;
  command: string;
  options: Record<string, unknown> & {
    scale: number;
    runs: number;
    days: number;
    walSeconds: number;
    drainCapSeconds: number;
    rounds: number;
    quick: boolean;
  };
  machine: Machine;
  loadAverage: { start: number; median: number; max: number };
  source: { cluster: string; database: string; scale: number; pgdataBytes: number; pgdataFiles: number; initSeconds: number; initWalBytes: number };
  variants: VariantInfo[];
  walTools: Array<{ archiver: string; label: string }>;
  backups: BackupRecord[];
  restores: RestoreRecord[];
  raw: BackupRecord[];
  wal: WalRecord[];
  days: DayRecord[];
  memory: MemoryRecord[];
  durationSeconds: number;
  summary?: Summary;
}

interface VariantSummary {
  id: string;
  label: string;
  tool: string;
  backups: number;
  wallSeconds: number;
  throughputMiBs: number;
  cpuSeconds: number;
  peakTreeRssMiB: number;
  maxRssMiB: number;
  storedBytes: number;
  ratio: number;
  restores: number;
  rtoSeconds: number;
  filesSeconds: number;
  recoverySeconds: number;
  restoreCpuSeconds: number;
  restorePeakTreeRssMiB: number;
  restoresOk: boolean;
}

interface WalSummary {
  archiver: string;
  label: string;
  runs: number;
  tps: number;
  writtenPerSecond: number;
  writtenMiBs: number;
  archivedPerSecond: number;
  readyMedian: number;
  readyMax: number;
  readyAtEnd: number;
  drainSeconds: number | null;
  drainedAll: boolean;
  keepsUp: boolean;
  failures: number;
  bytesPerSegment: number;
  agentRssMaxMiB?: number;
}

interface MonthSummary {
  id: string;
  label: string;
  daily: number[];
  totalBytes: number;
  meanFullBytes: number;
  dailyWalStoredBytes: number;
  thirtyDayBytes: number;
}

interface Target {
  target: string;
  measured: string;
  pass: boolean | null;
}

export interface Summary {
  variants: VariantSummary[];
  raw: {
    local: { wallSeconds: number; cpuSeconds: number; bytes: number; throughputMiBs: number };
    devnull: { wallSeconds: number; cpuSeconds: number; throughputMiBs: number };
  };
  wal: WalSummary[];
  month: { days: number; dailyWalBytes: number; variants: MonthSummary[]; method: string };
  targets: Target[];
}

function summarize(r: BenchResults): Summary {
  const variants: VariantSummary[] = r.variants.map(v => {
    const all = r.backups.filter(x => x.variant === v.id);
    const rs = r.restores.filter(x => x.variant === v.id);
    const wall = median(all.map(x => x.wallSeconds));
    const pgdata = median(all.map(x => x.pgdataBytes));
    const stored = median(all.map(x => x.storedBytes));
    return {
      id: v.id,
      label: v.label,
      tool: v.tool,
      backups: all.length,
      wallSeconds: wall,
      throughputMiBs: pgdata / MiB / wall,
      cpuSeconds: median(all.map(x => x.cpuSeconds)),
      peakTreeRssMiB: median(all.map(x => x.peakTreeRssMiB)),
      maxRssMiB: median(all.map(x => x.maxRssMiB)),
      storedBytes: stored,
      ratio: pgdata / stored,
      restores: rs.length,
      rtoSeconds: median(rs.map(x => x.rtoSeconds)),
      filesSeconds: median(rs.map(x => x.filesSeconds)),
      recoverySeconds: median(rs.map(x => x.recoverySeconds)),
      restoreCpuSeconds: median(rs.map(x => x.cpuSeconds)),
      restorePeakTreeRssMiB: median(rs.map(x => x.peakTreeRssMiB)),
      restoresOk: rs.every(x => x.rowsOk),
    };
  });
  const local = r.raw.filter(x => x.variant === 'pg_basebackup-local');
  const devnull = r.raw.filter(x => x.variant === 'pg_basebackup-devnull');
  const rawSummary = {
    local: {
      wallSeconds: median(local.map(x => x.wallSeconds)),
      cpuSeconds: median(local.map(x => x.cpuSeconds)),
      bytes: median(local.map(x => x.storedBytes)),
      throughputMiBs: median(local.map(x => x.pgdataBytes / MiB / x.wallSeconds)),
    },
    devnull: {
      wallSeconds: median(devnull.map(x => x.wallSeconds)),
      cpuSeconds: median(devnull.map(x => x.cpuSeconds)),
      throughputMiBs: median(devnull.map(x => x.pgdataBytes / MiB / x.wallSeconds)),
    },
  };
  const wal: WalSummary[] = r.walTools.map(t => {
    const w = r.wal.filter(x => x.archiver === t.archiver);
    const drained = w.every(x => x.drainSeconds !== null);
    const agentRss = w.map(x => x.agentRssMaxMiB ?? NaN).filter(Number.isFinite);
    return {
      archiver: t.archiver,
      label: t.label,
      runs: w.length,
      tps: median(w.map(x => x.tps)),
      writtenPerSecond: median(w.map(x => x.writtenPerSecond)),
      writtenMiBs: median(w.map(x => x.walWrittenBytes / MiB / x.loadSeconds)),
      archivedPerSecond: median(w.map(x => x.archivedPerSecond)),
      readyMedian: median(w.map(x => x.readyMedian)),
      readyMax: max(w.map(x => x.readyMax)),
      readyAtEnd: median(w.map(x => x.readyAtEnd)),
      drainSeconds: drained ? median(w.map(x => x.drainSeconds!)) : null,
      drainedAll: drained,
      keepsUp: w.length > 0 && w.every(x => x.keepsUp),
      failures: sum(w.map(x => x.failures)),
      bytesPerSegment: median(w.map(x => x.bytesPerSegment)),
      agentRssMaxMiB: agentRss.length ? max(agentRss) : undefined,
    };
  });
  const dailyWalBytes = mean(r.days.map(d => d.walBytes));
  const walFor = (v: VariantInfo) =>
    wal.find(w => w.archiver === (v.tool === 'agent' ? 'agent' : v.tool === 'pgbackrest' ? 'pgbackrest-gz' : 'barman'));
  const month: MonthSummary[] = r.variants.map(v => {
    const daily = r.backups
      .filter(x => x.variant === v.id && x.round <= r.options.days)
      .sort((a, b) => a.round - b.round)
      .map(x => x.storedBytes);
    const perSegment = walFor(v)?.bytesPerSegment ?? NaN;
    const dailyWalStoredBytes = Number.isFinite(dailyWalBytes) ? (dailyWalBytes / SEGMENT) * perSegment : 0;
    return {
      id: v.id,
      label: v.label,
      daily,
      totalBytes: sum(daily),
      meanFullBytes: mean(daily),
      dailyWalStoredBytes,
      thirtyDayBytes: 30 * mean(daily) + 30 * dailyWalStoredBytes,
    };
  });
  const V = (id: string) => variants.find(v => v.id === id)!;
  const fmtS = (n: number) => `${fmt(n, 1)} s`;
  const targets: Target[] = [];
  const cmp = (target: string, a: string, b: string, key: 'wallSeconds' | 'rtoSeconds') => {
    const x = V(a)[key];
    const y = V(b)[key];
    targets.push({
      target,
      measured: `${V(a).label} ${fmtS(x)} vs ${V(b).label} ${fmtS(y)} (${fmt(x / y, 2)}x)`,
      pass: Number.isFinite(x / y) ? x <= y : null,
    });
  };
  cmp('Full backup <= pgBackRest at comparable compression (zstd vs zst)', 'agent-zstd', 'pgbackrest-zst', 'wallSeconds');
  cmp('Full backup <= pgBackRest at comparable compression (gzip vs gz)', 'agent-gzip', 'pgbackrest-gz', 'wallSeconds');
  const agents = variants.filter(v => v.tool === 'agent');
  const fastest = agents.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
  for (const v of [fastest, V('agent-gzip')].filter((x, i, all) => all.indexOf(x) === i)) {
    const ratio = v.wallSeconds / rawSummary.local.wallSeconds;
    targets.push({
      target: `Full backup within 1.3x of raw pg_basebackup to local disk (${v.id === fastest.id ? 'fastest agent variant' : 'default gzip'})`,
      measured: `${v.label} ${fmtS(v.wallSeconds)} vs pg_basebackup -Ft ${fmtS(rawSummary.local.wallSeconds)} (${fmt(ratio, 2)}x)`,
      pass: Number.isFinite(ratio) ? ratio <= 1.3 : null,
    });
  }
  cmp('Restore (RTO) <= pgBackRest (zstd vs zst + bundle)', 'agent-zstd', 'pgbackrest-zst', 'rtoSeconds');
  cmp('Restore (RTO) <= pgBackRest (gzip vs gz)', 'agent-gzip', 'pgbackrest-gz', 'rtoSeconds');
  const aw = wal.find(w => w.archiver === 'agent');
  if (aw)
    targets.push({
      target: 'WAL archiving: median .ready backlog <= 2',
      measured: `median ${fmt(aw.readyMedian, 1)}, max ${fmt(aw.readyMax, 0)} (${fmt(aw.archivedPerSecond, 2)} segments/s archived, ${fmt(aw.writtenPerSecond, 2)}/s written)`,
      pass: Number.isFinite(aw.readyMedian) ? aw.readyMedian <= 2 : null,
    });
  const sg = V('agent-gzip').storedBytes;
  const bg = V('barman-gzip').storedBytes;
  targets.push({
    target: 'Bytes stored with default compression <= barman-cloud gzip',
    measured: `agent gzip ${fmtMiB(sg)} vs barman-cloud gzip ${fmtMiB(bg)} per full backup (${fmt(sg / bg, 2)}x)`,
    pass: Number.isFinite(sg / bg) ? sg <= bg : null,
  });
  const idle = max(r.memory.map(m => m.agentRssMiB));
  targets.push({
    target: 'Agent instance idle <= 80 MiB RSS',
    measured: `${fmt(idle, 1)} MiB (worst of the idle phases; ${r.memory.map(m => fmt(m.agentRssMiB, 0)).join(' / ')} MiB)`,
    pass: Number.isFinite(idle) ? idle <= 80 : null,
  });
  const backupPeak = max(r.backups.filter(b => b.variant.startsWith('agent-')).map(b => b.peakTreeRssMiB));
  targets.push({
    target: 'pg-agent backup <= 256 MiB RSS',
    measured: `${fmt(backupPeak, 0)} MiB peak (process tree, worst run of gzip/zstd/lz4)`,
    pass: Number.isFinite(backupPeak) ? backupPeak <= 256 : null,
  });
  return {
    variants,
    raw: rawSummary,
    wal,
    targets,
    month: {
      days: r.options.days,
      dailyWalBytes,
      variants: month,
      method:
        "30-day figure = 30 x (mean stored bytes of the simulated days' full backups) + 30 x (one day's WAL, in 16 MiB segments, x the tool's stored bytes per segment measured in the WAL phase): one full backup a day kept 30 days, with every day's WAL. pgBackRest zst uses the gz WAL figure (the WAL phase runs pgBackRest's default).",
    },
  };
}

function fmt(n: number, digits: number): string {
  if (n === undefined || n === null || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const fmtMiB = (bytes: number) => `${fmt(bytes / MiB, 1)} MiB`;
const fmtGiB = (bytes: number) => `${fmt(bytes / 1024 ** 3, 2)} GiB`;
const ratio = (x: number) => (Number.isFinite(x) ? `${fmt(x, 2)}x` : '-');
const mark = (pass: boolean | null) => (pass === null ? 'n/a' : pass ? 'yes' : '**no**');

/** Ratio of ours to the best peer for a lower-is-better metric: `1.23x (best: pgBackRest zst + bundle)`. */
function vsBest(v: VariantSummary, all: VariantSummary[], key: keyof VariantSummary): string {
  if (v.tool !== 'agent') return '';
  const peers = all.filter(p => p.tool !== 'agent' && Number.isFinite(p[key] as number));
  if (!peers.length) return '-';
  const best = peers.reduce((a, b) => ((b[key] as number) < (a[key] as number) ? b : a));
  return `${fmt((v[key] as number) / (best[key] as number), 2)}x ${best.id}`;
}

function markdown(r: BenchResults, s: Summary): string {
  const m = r.machine;
  const L: string[] = [];
  L.push('# Backup, restore and WAL archiving: our agent, pgBackRest and barman-cloud', '');
  L.push(
    `Generated by \`${r.command.replace(/ --$/, '')}\` on ${r.generatedAt} in ${fmt(r.durationSeconds / 60, 1)} min. Every figure below is computed by bench/run.ts from what it measured (raw runs in results.json); medians of ${r.options.quick ? 'a single run (quick mode: not medians, indicative only)' : `${r.options.runs} runs (backups: ${r.options.rounds} rounds)`}.`,
    '',
  );
  L.push('## Machine', '');
  L.push('| | |', '| --- | --- |');
  L.push(`| CPU | ${m.cpuModel}, ${m.cores} cores |`, `| RAM | ${m.ramGiB} GiB |`, `| kernel | ${m.kernel} (${m.os}) |`, `| disk | ${m.disk} |`);
  L.push(
    `| PostgreSQL | ${m.postgres} |`,
    `| pgBackRest | ${m.pgBackRest} |`,
    `| barman-cloud | ${m.barmanCloud} |`,
    `| S3 | ${m.ceph}, one bluestore OSD, radosgw on loopback (HTTP; TLS for pgBackRest) |`,
  );
  L.push(`| Node.js | ${m.node} |`, `| agent | git ${m.gitCommit}${m.gitDirty ? ' + uncommitted changes in agent/src or lib' : ''} |`);
  L.push(
    `| load average (1 min) at each measurement | median ${fmt(r.loadAverage.median, 2)}, max ${fmt(r.loadAverage.max, 2)} (other work on the machine: 2 cores shared with the tools, PostgreSQL and RGW) |`,
  );
  L.push(
    `| database | pgbench scale ${r.source.scale}: PGDATA ${fmtMiB(r.source.pgdataBytes)} in ${r.source.pgdataFiles} files (pgbench -i: ${fmt(r.source.initSeconds, 0)} s, ${fmtMiB(r.source.initWalBytes)} of WAL archived by the agent) |`,
    '',
  );

  L.push('## Targets of the issue', '');
  L.push('| target | measured | met |', '| --- | --- | --- |');
  for (const t of s.targets) L.push(`| ${t.target} | ${t.measured} | ${mark(t.pass)} |`);
  L.push('');

  L.push('## Full base backup', '');
  L.push(
    "Wall time from start to the backup being complete in S3 (WAL needed by it archived, metadata written). CPU: user + system of the tool and every child it waited for. Peak RSS: the tool's process tree summed, sampled every 0.2 s. Stored: bytes of the backup's objects in S3 (WAL not included). Throughput: PGDATA bytes / wall time.",
    '',
  );
  L.push(
    '| tool, compression | wall s | vs best peer | MiB/s | CPU s | vs best peer | peak RSS MiB | stored MiB | ratio | vs best peer |',
    '| --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |',
  );
  for (const v of s.variants) {
    L.push(
      `| ${v.label} | ${fmt(v.wallSeconds, 1)} | ${vsBest(v, s.variants, 'wallSeconds')} | ${fmt(v.throughputMiBs, 0)} | ${fmt(v.cpuSeconds, 1)} | ${vsBest(v, s.variants, 'cpuSeconds')} | ${fmt(v.peakTreeRssMiB, 0)} | ${fmt(v.storedBytes / MiB, 1)} | ${ratio(v.ratio)} | ${vsBest(v, s.variants, 'storedBytes')} |`,
    );
  }
  L.push(
    `| pg_basebackup -Ft to local disk (limit) | ${fmt(s.raw.local.wallSeconds, 1)} | | ${fmt(s.raw.local.throughputMiBs, 0)} | ${fmt(s.raw.local.cpuSeconds, 1)} | | | ${fmt(s.raw.local.bytes / MiB, 1)} | 1.0x | |`,
  );
  L.push(
    `| pg_basebackup -Ft to /dev/null (limit) | ${fmt(s.raw.devnull.wallSeconds, 1)} | | ${fmt(s.raw.devnull.throughputMiBs, 0)} | ${fmt(s.raw.devnull.cpuSeconds, 1)} | | | | | |`,
    '',
  );

  L.push('## Restore to a usable server (RTO)', '');
  L.push(
    "From the start of the restore to `SELECT 1` answering on the promoted server: the tool restores the files, PostgreSQL starts with the tool's restore_command (agent: `pg-agent wal-fetch`; pgBackRest: `archive-get`; barman: `barman-cloud-wal-restore`), replays the WAL to the end of the archive and promotes. Every restored copy is checked (pgbench_accounts row count).",
    '',
  );
  L.push(
    '| tool, compression | RTO s | vs best peer | files s | recovery + start s | restore CPU s | restore peak RSS MiB | rows ok |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |',
  );
  for (const v of s.variants) {
    L.push(
      `| ${v.label} | ${fmt(v.rtoSeconds, 1)} | ${vsBest(v, s.variants, 'rtoSeconds')} | ${fmt(v.filesSeconds, 1)} | ${fmt(v.recoverySeconds, 1)} | ${fmt(v.restoreCpuSeconds, 1)} | ${fmt(v.restorePeakTreeRssMiB, 0)} | ${v.restores ? (v.restoresOk ? 'yes' : '**no**') : '-'} |`,
    );
  }
  L.push('');

  L.push(`## WAL archiving under load (pgbench -N -c 4 -j 2 -T ${r.options.walSeconds})`, '');
  L.push(
    `Backlog: number of \`archive_status/*.ready\` files, sampled every 0.5 s during the load. Keeps up: it archived, during the load, all but at most 2 of the segments written. Drain: time after the load until no .ready file is left (cap ${r.options.drainCapSeconds} s).`,
    '',
  );
  L.push(
    '| archiver | pgbench tps | written seg/s (MiB/s) | archived seg/s | backlog median | backlog max | backlog at end | drain s | keeps up | stored bytes/segment | failures |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
  );
  for (const w of s.wal) {
    L.push(
      `| ${w.label} | ${fmt(w.tps, 0)} | ${fmt(w.writtenPerSecond, 2)} (${fmt(w.writtenMiBs, 1)}) | ${fmt(w.archivedPerSecond, 2)} | ${fmt(w.readyMedian, 1)} | ${fmt(w.readyMax, 0)} | ${fmt(w.readyAtEnd, 0)} | ${w.drainedAll ? fmt(w.drainSeconds!, 1) : `> ${r.options.drainCapSeconds}`} | ${w.keepsUp ? 'yes' : '**no**'} | ${Number.isFinite(w.bytesPerSegment) ? `${fmt(w.bytesPerSegment / MiB, 2)} MiB` : '-'} | ${w.failures} |`,
    );
  }
  L.push('');

  L.push(`## Storage over a simulated month (${s.month.days} daily full backups)`, '');
  L.push(
    `Each simulated day after the first, pgbench writes ${r.days[0]?.transactions ?? '-'} transactions (-N, 4 clients), about ${fmtMiB(s.month.dailyWalBytes)} of WAL; then every tool takes a full backup. ${s.month.method}`,
    '',
  );
  L.push(
    `| tool, compression | ${Array.from({ length: s.month.days }, (_, i) => `day ${i + 1} MiB`).join(' | ')} | ${s.month.days} days | WAL per day | 30 days (extrapolated) | vs barman-cloud gzip |`,
  );
  L.push(`| --- | ${Array.from({ length: s.month.days }, () => '---:').join(' | ')} | ---: | ---: | ---: | ---: |`);
  const barman30 = s.month.variants.find(v => v.id === 'barman-gzip')?.thirtyDayBytes ?? NaN;
  for (const v of s.month.variants) {
    L.push(
      `| ${v.label} | ${v.daily.map(d => fmt(d / MiB, 1)).join(' | ')} | ${fmtMiB(v.totalBytes)} | ${fmtMiB(v.dailyWalStoredBytes)} | ${fmtGiB(v.thirtyDayBytes)} | ${ratio(v.thirtyDayBytes / barman30)} |`,
    );
  }
  L.push('');

  L.push('## Memory', '');
  L.push(
    'The `pg-agent instance` process (Node.js) and, separately, the PostgreSQL processes it supervises; medians of samples every 0.5 s. PSS divides shared pages (shared_buffers, libraries) among the processes that map them, so the postgres PSS sum is what the pod really holds.',
    '',
  );
  L.push(
    '| phase | agent RSS MiB | agent anonymous MiB | agent PSS MiB | agent peak (VmHWM) MiB | postgres processes | postgres RSS sum MiB | postgres PSS sum MiB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const x of r.memory)
    L.push(
      `| ${x.phase} | ${fmt(x.agentRssMiB, 1)} | ${fmt(x.agentAnonMiB, 1)} | ${fmt(x.agentPssMiB, 1)} | ${fmt(x.agentHwmMiB, 1)} | ${x.postgresProcesses} | ${fmt(x.postgresRssMiB, 1)} | ${fmt(x.postgresPssMiB, 1)} |`,
    );
  const aw2 = s.wal.find(w => w.archiver === 'agent');
  L.push(
    '',
    `Agent instance under the WAL load: peak RSS ${fmt(aw2?.agentRssMaxMiB ?? NaN, 0)} MiB. \`pg-agent backup\` peak RSS (process tree, median of runs): ${s.variants
      .filter(v => v.tool === 'agent')
      .map(v => `${v.id.replace('agent-', '')} ${fmt(v.peakTreeRssMiB, 0)} MiB`)
      .join(', ')}.`,
    '',
  );

  L.push('## Setups', '');
  L.push('| variant | options |', '| --- | --- |');
  for (const v of r.variants) L.push(`| ${v.label} | ${v.options} |`);
  L.push('');
  return L.join('\n');
}

const COLORS: Record<string, string> = { agent: '#2b6cb0', pgbackrest: '#dd6b20', barman: '#38a169', raw: '#718096' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Bar {
  label: string;
  value: number;
  kind: string;
  text: string;
}

function panel(x: number, y: number, w: number, title: string, bars: Bar[]): { svg: string; height: number } {
  const labelW = 190;
  const barH = 16;
  const gap = 6;
  const top = 26;
  const valid = bars.filter(b => Number.isFinite(b.value));
  const maxV = Math.max(...valid.map(b => b.value), 1e-9);
  // Room for the longest value label after the longest bar (about 6.2 px per character at 11 px).
  const plotW = w - labelW - 12 - Math.max(...bars.map(b => b.text.length)) * 6.2;
  const out: string[] = [`<text x="${x}" y="${y + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const by = y + top + i * (barH + gap);
    const bw = Number.isFinite(b.value) ? Math.max(1, (b.value / maxV) * plotW) : 0;
    out.push(`<text x="${x + labelW - 6}" y="${by + 12}" font-size="11" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${x + labelW}" y="${by}" width="${bw.toFixed(1)}" height="${barH}" fill="${COLORS[b.kind] ?? '#999'}"/>`);
    out.push(`<text x="${x + labelW + bw + 4}" y="${by + 12}" font-size="11">${esc(b.text)}</text>`);
  });
  return { svg: out.join('\n'), height: top + bars.length * (barH + gap) + 10 };
}

function chart(r: BenchResults, s: Summary): string {
  const kind = (id: string) => r.variants.find(v => v.id === id)?.tool ?? 'raw';
  const vb = (key: keyof VariantSummary, digits: number, unit: string, scale = 1): Bar[] =>
    s.variants.map(v => ({
      label: v.label,
      value: (v[key] as number) / scale,
      kind: kind(v.id),
      text: `${fmt((v[key] as number) / scale, digits)}${unit}`,
    }));
  const panels: Array<{ title: string; bars: Bar[] }> = [
    {
      title: 'Full backup, wall time (s, lower is better)',
      bars: [
        ...vb('wallSeconds', 1, ' s'),
        { label: 'pg_basebackup to disk', value: s.raw.local.wallSeconds, kind: 'raw', text: `${fmt(s.raw.local.wallSeconds, 1)} s` },
        { label: 'pg_basebackup to /dev/null', value: s.raw.devnull.wallSeconds, kind: 'raw', text: `${fmt(s.raw.devnull.wallSeconds, 1)} s` },
      ],
    },
    { title: 'Restore to usable server, RTO (s)', bars: vb('rtoSeconds', 1, ' s') },
    { title: 'Stored per full backup (MiB)', bars: vb('storedBytes', 1, ' MiB', MiB) },
    {
      title: 'Backup CPU (user + system s)',
      bars: [
        ...vb('cpuSeconds', 1, ' s'),
        { label: 'pg_basebackup to disk', value: s.raw.local.cpuSeconds, kind: 'raw', text: `${fmt(s.raw.local.cpuSeconds, 1)} s` },
      ],
    },
    { title: 'Backup peak RSS, process tree (MiB)', bars: vb('peakTreeRssMiB', 0, ' MiB') },
    {
      title: `WAL under pgbench load: median .ready backlog`,
      bars: s.wal.map(w => ({
        label: w.archiver,
        value: w.readyMedian,
        kind: w.archiver.startsWith('pgbackrest') ? 'pgbackrest' : w.archiver,
        text: `${fmt(w.readyMedian, 1)} (max ${fmt(w.readyMax, 0)}; ${fmt(w.archivedPerSecond, 2)} of ${fmt(w.writtenPerSecond, 2)} seg/s)`,
      })),
    },
    {
      title: `30 days of daily fulls + WAL, extrapolated (GiB)`,
      bars: s.month.variants.map(v => ({
        label: v.label,
        value: v.thirtyDayBytes / 1024 ** 3,
        kind: kind(v.id),
        text: `${fmt(v.thirtyDayBytes / 1024 ** 3, 2)} GiB`,
      })),
    },
  ];
  const colW = 560;
  const parts: string[] = [];
  let y = 60;
  let height = 0;
  for (let i = 0; i < panels.length; i += 2) {
    let rowH = 0;
    for (let j = 0; j < 2 && i + j < panels.length; j++) {
      const p = panel(20 + j * colW, y, colW - 20, panels[i + j].title, panels[i + j].bars);
      parts.push(p.svg);
      rowH = Math.max(rowH, p.height);
    }
    y += rowH + 16;
    height = y;
  }
  const m = r.machine;
  const legend = [
    ['agent', 'our agent'],
    ['pgbackrest', 'pgBackRest'],
    ['barman', 'barman-cloud'],
    ['raw', 'pg_basebackup (limit)'],
  ]
    .map(
      ([k, t], i) =>
        `<rect x="${20 + i * 170}" y="${height}" width="12" height="12" fill="${COLORS[k]}"/><text x="${36 + i * 170}" y="${height + 11}" font-size="12">${t}</text>`,
    )
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * colW + 20}" height="${height + 30}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="24" font-size="17" font-weight="bold">${esc(`Backup benchmark: pgbench scale ${r.source.scale} (${fmt(r.source.pgdataBytes / MiB, 0)} MiB PGDATA), Ceph RGW on loopback`)}</text>`,
    `<text x="20" y="44" font-size="12">${esc(`${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB, ${m.postgres}; ${r.options.quick ? 'quick mode, single run' : `medians of ${r.options.runs} runs`}; ${r.generatedAt}`)}</text>`,
    ...parts,
    legend,
    '</svg>',
    '',
  ].join('\n');
}

export function writeReports(r: BenchResults, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const s = summarize(r);
  r.summary = s;
  const files = [path.join(outDir, 'results.json'), path.join(outDir, 'results.md'), path.join(outDir, 'chart.svg')];
  fs.writeFileSync(files[0], JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  fs.writeFileSync(files[1], markdown(r, s) + '\n');
  fs.writeFileSync(files[2], chart(r, s));
  return files;
}

/** Re-renders results.md and chart.svg from a results.json (after a change to this file). */
export function rerender(jsonFile: string): string[] {
  const r = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as BenchResults;
  const nullToNaN = (o: any): any => {
    if (o === null) return NaN;
    if (Array.isArray(o)) return o.map(nullToNaN);
    if (typeof o === 'object') return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k === 'drainSeconds' ? v : nullToNaN(v)]));
    return o;
  };
  return writeReports(nullToNaN(r), path.dirname(jsonFile));
}
