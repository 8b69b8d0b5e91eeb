/**
 * `npm run bench`: our backup, restore and WAL archiving side by side with pgBackRest and barman-cloud, in one run,
 * on the same database (the primary of dist/keycloak.k8s.yaml, run by `pg-agent instance` as in a pod) and the same
 * S3 server (Ceph RGW on loopback, bluestore). Writes bench/results/results.{md,json} and chart.svg; every figure
 * in them is computed here from what was measured.
 *
 *   npm run bench [-- --quick] [--scale N] [--runs N] [--days N] [--wal-seconds N] [--out DIR] [--keep-rgw]
 *
 * See bench/README.md for what is measured and how.
 */
import './env';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Compression } from '../lib/contract';
import { storeEnvRewrite } from '../test/support/backup';
import { ClusterHarness } from '../test/support/cluster-harness';
import { PG_BIN, podUser } from '../test/support/pod-runner';
import { RGW_BASE, createBucket, ensureS3, stopS3 } from '../test/support/s3';
import { buildBundles } from './lib/build';
import { describeMachine, load1 } from './lib/machine';
import { ArchiveSwitch, Source, archiverStats, conn, pgdataBytes, readyCount, sql, walBytes } from './lib/pg';
import { commOf, descendants, pssKiB, round, run, sleep, statusKiB } from './lib/proc';
import { BenchResults, BackupRecord, DayRecord, MemoryRecord, RestoreRecord, VariantInfo, WalRecord, writeReports } from './lib/report';
import { max, median, rotate } from './lib/stats';
import { AgentTool, CLUSTER } from './tools/agent';
import { BarmanTool } from './tools/barman';
import { BackupResult, Ctx, RestoreResult, deleteUnder, storedUnder } from './tools/common';
import { PgBackRestTool } from './tools/pgbackrest';
import { rawBaseBackup } from './tools/raw';

const ROOT = path.resolve(__dirname, '..');
const STORE_SECRET = 'rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak';
const DATABASE = 'keycloak';
const MiB = 1024 * 1024;
/** What agent/src/store/compression.ts uses (GZIP_DATA_LEVEL, ZSTD_LEVEL), for the report's setup table. */
const AGENT_LEVELS: Record<string, string> = {
  gzip: 'gzip level 1 (zlib, libuv thread pool)',
  zstd: 'zstd level 3, on one zstd worker thread (2 MiB jobs)',
  lz4: 'lz4 frames of 1 MiB, two compressed off the main thread',
  none: 'none',
};

export interface Options {
  quick: boolean;
  scale: number;
  runs: number;
  days: number;
  walSeconds: number;
  drainCapSeconds: number;
  idleSeconds: number;
  /** pgbench transactions per simulated day (spread over 4 clients). */
  dayTransactions: number;
  out: string;
  keepRgw: boolean;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const int = (flag: string, dflt: number, min = 1): number => {
    const v = value(flag);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, not "${v}"`);
    return n;
  };
  for (const a of argv) {
    if (a.startsWith('--') && !['--quick', '--scale', '--runs', '--days', '--wal-seconds', '--out', '--keep-rgw', '--help'].includes(a))
      throw new Error(`unknown flag ${a} (see bench/README.md)`);
  }
  if (argv.includes('--help')) {
    process.stdout.write(
      'npm run bench -- [--quick] [--scale N (70: ~1 GiB)] [--runs N (3)] [--days N (4)] [--wal-seconds N (60)] [--out DIR] [--keep-rgw]\n',
    );
    process.exit(0);
  }
  const scale = int('--scale', quick ? 5 : 70);
  return {
    quick,
    scale,
    runs: int('--runs', quick ? 1 : 3),
    days: int('--days', quick ? 2 : 4),
    walSeconds: int('--wal-seconds', quick ? 15 : 60, 5),
    drainCapSeconds: quick ? 15 : 30,
    idleSeconds: quick ? 5 : 15,
    dayTransactions: Math.max(2000, scale * 500),
    out: path.resolve(value('--out') ?? path.join(ROOT, 'bench', 'results')),
    keepRgw: argv.includes('--keep-rgw'),
  };
}

const started = Date.now();
function log(msg: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(5);
  process.stderr.write(`[bench ${t}s] ${msg}\n`);
}

function preflight(): void {
  const missing: string[] = [];
  for (const bin of [
    'pgbackrest',
    'barman-cloud-backup',
    'barman-cloud-restore',
    'barman-cloud-wal-archive',
    'pg_basebackup',
    'pgbench',
    'radosgw',
  ]) {
    const found = (process.env.PATH ?? '')
      .split(':')
      .concat([PG_BIN])
      .some(d => fs.existsSync(path.join(d, bin)));
    if (!found) missing.push(bin);
  }
  if (!fs.existsSync('/usr/bin/time')) missing.push('/usr/bin/time');
  if (missing.length) {
    throw new Error(
      `missing ${missing.join(', ')}. As root: apt-get install -y pgbackrest barman-cli-cloud time postgresql-15 postgresql-client-15 radosgw ceph-mon ceph-osd ceph-common`,
    );
  }
  if (!podUser()) throw new Error('run the bench as root: tools run as the postgres user, as in the pod (uid 999)');
}

interface Variant extends VariantInfo {
  backup(): Promise<BackupResult>;
  restore(ref: string): Promise<RestoreResult>;
  /** Removes the stored backup once measured (large uncompressed backups would fill the RGW's 10 GiB disk). */
  drop?(ref: string): Promise<void>;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  preflight();
  const rounds = Math.max(opts.runs, opts.days);
  log(
    `options: scale ${opts.scale}, runs ${opts.runs}, days ${opts.days} (${rounds} backup rounds), WAL load ${opts.walSeconds} s; RGW in ${RGW_BASE}, agent bundle in ${process.env.PGC_AGENT_DIST}`,
  );
  const machine = describeMachine(ROOT, PG_BIN);
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB, ${machine.kernel}; ${machine.postgres}`);

  const { agentBundle, restoreBundle } = await buildBundles(ROOT, process.env.PGC_AGENT_DIST!);
  log(`built ${agentBundle} and ${restoreBundle}`);
  const nodePath = path.join(ROOT, 'node_modules');

  const ep = await ensureS3();
  log(`RGW at ${ep.endpoint} / ${ep.httpsEndpoint}`);
  const user = podUser()!;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-work-'));
  fs.chownSync(work, user.uid, user.gid);
  const caFile = path.join(work, 'rgw-ca.crt');
  fs.copyFileSync(ep.caFile, caFile);
  fs.chownSync(caFile, user.uid, user.gid);
  const stamp = Date.now().toString(36);
  const buckets = { agent: `bench-agent-${stamp}`, pgbackrest: `bench-pgbackrest-${stamp}`, barman: `bench-barman-${stamp}` };
  for (const b of Object.values(buckets)) await createBucket(b);

  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER);
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping the instance');
    await h.stop().catch(e => log(`harness stop: ${(e as Error).message}`));
    fs.rmSync(work, { recursive: true, force: true });
    if (!opts.keepRgw) {
      log('stopping the RGW (--keep-rgw keeps it)');
      await stopS3(true).catch(e => log(`RGW stop: ${(e as Error).message}`));
    }
  };
  process.once('SIGINT', () => {
    log('interrupted');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(ep.endpoint, buckets.agent);
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.slice(-10).join('\n')}`);
    const instance = h.startInstance(0, { NODE_PATH: nodePath });
    await h.waitReady(0, 180_000);
    const pod = h.pods[0];
    const src: Source = {
      port: pod.pgPort,
      pgdata: path.join(pod.dataDir, 'pgdata'),
      socketDir: pod.runDir,
      database: DATABASE,
      superuserPassword: h.secretData(`${CLUSTER}-superuser`)!.password,
      replicationPassword: h.secretData(`${CLUSTER}-replication`)!.password,
    };
    const agentPid = instance.child.pid!;
    log(`instance ready: postgres on 127.0.0.1:${src.port}, PGDATA ${src.pgdata}, agent pid ${agentPid}`);

    const ctx: Ctx = { root: ROOT, work, user, ep, caFile, src, pgBin: PG_BIN, expectedAccounts: () => opts.scale * 100_000, log };
    const memory: MemoryRecord[] = [];
    await sleep(5000);
    memory.push(await sampleMemory('idle, fresh (after start, no data)', agentPid, opts.idleSeconds));

    // The data: pgbench at the requested scale, written through the agent's archiving like any load.
    const pgEnv = {
      ...process.env,
      PGHOST: '127.0.0.1',
      PGPORT: String(src.port),
      PGUSER: 'postgres',
      PGPASSWORD: src.superuserPassword,
      PGDATABASE: DATABASE,
    };
    const initStart = Date.now();
    const initWal0 = await walBytes(src);
    await run(path.join(PG_BIN, 'pgbench'), ['-i', '-s', String(opts.scale), '-q'], { env: pgEnv });
    await sql(conn(src), 'CHECKPOINT');
    const initSeconds = (Date.now() - initStart) / 1000;
    const initWal = (await walBytes(src)) - initWal0;
    const initialSize = pgdataBytes(src.pgdata);
    log(`pgbench -i -s ${opts.scale}: ${initSeconds.toFixed(0)} s, PGDATA ${(initialSize.bytes / MiB).toFixed(0)} MiB in ${initialSize.files} files`);

    // Tools and variants.
    const agent = new AgentTool(ctx, h, buckets.agent, restoreBundle, nodePath);
    const pgbrGz = new PgBackRestTool(ctx, buckets.pgbackrest, 'gz');
    const pgbrZst = new PgBackRestTool(ctx, buckets.pgbackrest, 'zst');
    const barman = new BarmanTool(ctx, buckets.barman);
    const sw = new ArchiveSwitch(
      src,
      { agent: null, 'pgbackrest-gz': pgbrGz.archiveCommand, 'pgbackrest-zst': pgbrZst.archiveCommand, barman: barman.archiveCommand },
      log,
    );
    if (!(await sw.waitDrained(600_000))) throw new Error('the agent did not archive the pgbench -i WAL within 10 min');
    memory.push(
      await sampleMemory(`idle, after loading the data (the archiver shipped ${(initWal / MiB).toFixed(0)} MiB of WAL)`, agentPid, opts.idleSeconds),
    );
    await pgbrGz.setup();
    await pgbrZst.setup();

    const agentVariant = (c: Compression, isDefault: boolean): Variant => ({
      id: `agent-${c}`,
      tool: 'agent',
      label: `our agent, ${c}${isDefault ? ' (default)' : ''}`,
      compression: c,
      isDefault,
      archiver: 'agent',
      options: `${AGENT_LEVELS[c]}; one tar stream from pg_basebackup in 1 MiB chunks, 8 MiB multipart parts, 2 in flight; restore: 4 ranged GETs of 8 MiB in flight, decompressed in 256 KiB slices, streamed unpack; recovery: wal-fetch prefetches 8 segments`,
      backup: () => agent.backup(`agent-${c}`, c),
      restore: ref => agent.restore(`agent-${c}`, ref),
    });
    const variants: Variant[] = [
      agentVariant('gzip', true),
      agentVariant('zstd', false),
      agentVariant('lz4', false),
      {
        id: 'pgbackrest-gz',
        tool: 'pgbackrest',
        label: 'pgBackRest gz (default)',
        compression: 'gz',
        isDefault: true,
        archiver: 'pgbackrest-gz',
        options: pgbrGz.options,
        backup: () => pgbrGz.backup('pgbackrest-gz'),
        restore: ref => pgbrGz.restore('pgbackrest-gz', ref),
      },
      {
        id: 'pgbackrest-zst',
        tool: 'pgbackrest',
        label: 'pgBackRest zst + bundle',
        compression: 'zst',
        isDefault: false,
        archiver: 'pgbackrest-zst',
        options: pgbrZst.options,
        backup: () => pgbrZst.backup('pgbackrest-zst'),
        restore: ref => pgbrZst.restore('pgbackrest-zst', ref),
      },
      {
        id: 'barman-gzip',
        tool: 'barman',
        label: 'barman-cloud gzip',
        compression: 'gzip',
        isDefault: false,
        archiver: 'barman',
        options: '--gzip, --immediate-checkpoint, 2 upload jobs (default)',
        backup: () => barman.backup('barman-gzip', 'gzip'),
        restore: ref => barman.restore('barman-gzip', ref),
      },
      {
        id: 'barman-none',
        tool: 'barman',
        label: 'barman-cloud none (default)',
        compression: 'none',
        isDefault: true,
        archiver: 'barman',
        options: 'no compression (default), --immediate-checkpoint, 2 upload jobs (default)',
        backup: () => barman.backup('barman-none', 'none'),
        restore: ref => barman.restore('barman-none', ref),
        drop: ref => deleteUnder(ctx, buckets.barman, `barman/base/${ref}/`),
      },
    ];
    const groups = ['agent', 'pgbackrest-gz', 'pgbackrest-zst', 'barman'].map(a => variants.filter(v => v.archiver === a));

    const backups: BackupRecord[] = [];
    const restores: RestoreRecord[] = [];
    const days: DayRecord[] = [];
    const raw: BackupRecord[] = [];
    const backupRecord = (r: number, b: BackupResult, size: number, load: number): BackupRecord => ({
      round: r,
      variant: b.variant,
      ref: b.ref,
      wallSeconds: round(b.measured.wallSeconds, 3),
      cpuSeconds: round(b.measured.cpuSeconds, 2),
      maxRssMiB: round(b.measured.maxRssMiB, 1),
      peakTreeRssMiB: round(b.measured.peakTreeRssMiB, 1),
      peakByProgram: b.measured.peakByProgram,
      storedBytes: b.storedBytes,
      storedObjects: b.storedObjects,
      pgdataBytes: size,
      load1: round(load, 2),
    });

    for (let r = 1; r <= rounds; r++) {
      if (r > 1) {
        // A simulated day: pgbench writes a fixed number of transactions, archived by the agent (the cluster's own).
        await sw.use('agent');
        const w0 = await walBytes(src);
        const t0 = Date.now();
        const out = await run(path.join(PG_BIN, 'pgbench'), ['-N', '-c', '4', '-j', '2', '-t', String(Math.ceil(opts.dayTransactions / 4))], {
          env: pgEnv,
        });
        const walWritten = (await walBytes(src)) - w0;
        const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
        days.push({
          day: r,
          transactions: opts.dayTransactions,
          seconds: round((Date.now() - t0) / 1000, 1),
          walBytes: walWritten,
          tps: round(tps, 0),
        });
        log(`day ${r}: ${opts.dayTransactions} pgbench transactions, ${(walWritten / MiB).toFixed(0)} MiB of WAL`);
      }
      const size = pgdataBytes(src.pgdata).bytes;
      if (r <= opts.runs) {
        for (const to of ['local', 'devnull'] as const) {
          const load = load1();
          const b = await rawBaseBackup(ctx, `pg_basebackup-${to}`, to);
          raw.push(backupRecord(r, b, size, load));
          log(`round ${r}: pg_basebackup to ${to}: ${b.measured.wallSeconds.toFixed(1)} s`);
        }
      }
      for (const group of rotate(groups, r - 1)) {
        await sw.use(group[0].archiver);
        for (const v of group) {
          const load = load1();
          const b = await v.backup();
          backups.push(backupRecord(r, b, size, load));
          log(
            `round ${r}: ${v.id} backup ${b.measured.wallSeconds.toFixed(1)} s, ${b.measured.cpuSeconds.toFixed(1)} CPU s, peak ${b.measured.peakTreeRssMiB.toFixed(0)} MiB, stored ${(b.storedBytes / MiB).toFixed(1)} MiB`,
          );
          if (r <= opts.runs) {
            const rload = load1();
            const rr = await v.restore(b.ref);
            restores.push({
              round: r,
              variant: v.id,
              rtoSeconds: rr.rtoSeconds,
              filesSeconds: rr.filesSeconds,
              recoverySeconds: rr.recoverySeconds,
              cpuSeconds: round(rr.measured.cpuSeconds, 2),
              maxRssMiB: round(rr.measured.maxRssMiB, 1),
              peakTreeRssMiB: round(rr.measured.peakTreeRssMiB, 1),
              rowsOk: rr.rowsOk,
              load1: round(rload, 2),
            });
            log(
              `round ${r}: ${v.id} restore RTO ${rr.rtoSeconds.toFixed(1)} s (files ${rr.filesSeconds.toFixed(1)} s, recovery ${rr.recoverySeconds.toFixed(1)} s), rows ${rr.rowsOk ? 'ok' : 'WRONG'}`,
            );
          }
          if (v.drop) await v.drop(b.ref);
        }
      }
    }

    // WAL archiving under a fixed pgbench write load.
    const wal: WalRecord[] = [];
    const walTools = [
      { archiver: 'agent', label: 'our agent (pg-agent instance, async parallel archiver; gzip)', bucket: buckets.agent, prefix: agent.walPrefix },
      {
        archiver: 'pgbackrest-gz',
        label: 'pgBackRest archive-push, async, process-max=2 (gz)',
        bucket: buckets.pgbackrest,
        prefix: pgbrGz.walPrefix,
      },
      { archiver: 'barman', label: 'barman-cloud-wal-archive --gzip', bucket: buckets.barman, prefix: barman.walPrefix },
    ];
    for (let r = 1; r <= opts.runs; r++) {
      for (const t of rotate(walTools, r - 1)) {
        await sw.use(t.archiver);
        await waitQuiet();
        // Same start for every archiver: right after a checkpoint, the load's first touch of each page is a
        // full-page image, as after any checkpoint in production.
        await sql(conn(src), 'CHECKPOINT');
        const rec = await walRun(r, t, ctx, pgEnv, agentPid, opts);
        wal.push(rec);
        log(
          `WAL run ${r}: ${t.archiver}: ${rec.segmentsWritten.toFixed(1)} segments written, ${rec.archivedPerSecond.toFixed(2)} archived/s, backlog median ${rec.readyMedian} max ${rec.readyMax}, at end ${rec.readyAtEnd}, drained ${rec.drainSeconds === null ? `not within ${opts.drainCapSeconds} s` : `in ${rec.drainSeconds} s`}`,
        );
        if (readyCount(src.pgdata) > 0) await sw.discardBacklog();
      }
    }
    await sw.use('agent');
    memory.push(await sampleMemory('idle, after the WAL load', agentPid, opts.idleSeconds));

    const results: BenchResults = {
      generatedAt: new Date().toISOString(),
      command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
      options: { ...opts, rounds },
      machine,
      loadAverage: { start: 0, median: 0, max: 0 },
      source: {
        cluster: CLUSTER,
        database: DATABASE,
        scale: opts.scale,
        pgdataBytes: initialSize.bytes,
        pgdataFiles: initialSize.files,
        initSeconds: round(initSeconds, 1),
        initWalBytes: initWal,
      },
      variants: variants.map(({ id, tool, label, compression, isDefault, archiver, options }) => ({
        id,
        tool,
        label,
        compression,
        isDefault,
        archiver,
        options,
      })),
      walTools: walTools.map(({ archiver, label }) => ({ archiver, label })),
      backups,
      restores,
      raw,
      wal,
      days,
      memory,
      durationSeconds: round((Date.now() - started) / 1000, 0),
    };
    const loads = [...backups, ...raw]
      .map(b => b.load1)
      .concat(
        restores.map(x => x.load1),
        wal.map(x => x.load1),
      );
    results.loadAverage = { start: round(loads[0] ?? NaN, 2), median: round(median(loads), 2), max: round(max(loads), 2) };
    const files = writeReports(results, opts.out);
    log(`wrote ${files.join(', ')}`);
    log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
  } finally {
    await cleanup();
  }
}

/** RSS and PSS of the agent (node) and of its postgres processes, sampled every 0.5 s for `seconds`; medians. */
async function sampleMemory(phase: string, agentPid: number, seconds: number): Promise<MemoryRecord> {
  const agentRss: number[] = [],
    agentPss: number[] = [],
    agentAnon: number[] = [],
    pgRss: number[] = [],
    pgPss: number[] = [],
    pgCount: number[] = [];
  for (let i = 0; i < seconds * 2; i++) {
    const tree = descendants(agentPid).filter(p => p !== agentPid);
    const pg = tree.filter(p => commOf(p) === 'postgres');
    agentRss.push(statusKiB(agentPid, 'VmRSS') / 1024);
    agentPss.push(pssKiB(agentPid) / 1024);
    agentAnon.push(statusKiB(agentPid, 'RssAnon') / 1024);
    pgRss.push(pg.reduce((n, p) => n + statusKiB(p, 'VmRSS'), 0) / 1024);
    pgPss.push(pg.reduce((n, p) => n + pssKiB(p), 0) / 1024);
    pgCount.push(pg.length);
    await sleep(500);
  }
  const rec: MemoryRecord = {
    phase,
    agentRssMiB: round(median(agentRss), 1),
    agentPssMiB: round(median(agentPss), 1),
    agentHwmMiB: round(statusKiB(agentPid, 'VmHWM') / 1024, 1),
    agentAnonMiB: round(median(agentAnon), 1),
    postgresRssMiB: round(median(pgRss), 1),
    postgresPssMiB: round(median(pgPss), 1),
    postgresProcesses: median(pgCount),
  };
  log(
    `memory (${phase}): agent RSS ${rec.agentRssMiB} MiB (anonymous ${rec.agentAnonMiB}, PSS ${rec.agentPssMiB}, HWM ${rec.agentHwmMiB}); postgres ${rec.postgresProcesses} processes RSS ${rec.postgresRssMiB} MiB, PSS ${rec.postgresPssMiB} MiB`,
  );
  return rec;
}

/** Waits until no pgBackRest background archive-push is left from an earlier run (it would compete for CPU). */
async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (PgBackRestTool.busyProcesses() > 0 && Date.now() < deadline) await sleep(500);
}

async function walRun(
  r: number,
  t: { archiver: string; bucket: string; prefix: string },
  ctx: Ctx,
  pgEnv: NodeJS.ProcessEnv,
  agentPid: number,
  opts: Options,
): Promise<WalRecord> {
  const { src } = ctx;
  const segment = 16 * MiB;
  const before = await storedUnder(ctx, t.bucket, t.prefix);
  const s0 = await archiverStats(src);
  const w0 = await walBytes(src);
  const ready: number[] = [];
  const agentRss: number[] = [];
  const timer = setInterval(() => {
    ready.push(readyCount(src.pgdata));
    if (t.archiver === 'agent') agentRss.push(statusKiB(agentPid, 'VmRSS') / 1024);
  }, 500);
  const load = load1();
  const t0 = Date.now();
  let out: string;
  try {
    out = await run(path.join(PG_BIN, 'pgbench'), ['-N', '-c', '4', '-j', '2', '-T', String(opts.walSeconds)], { env: pgEnv });
  } finally {
    clearInterval(timer);
  }
  const loadSeconds = (Date.now() - t0) / 1000;
  const s1 = await archiverStats(src);
  const w1 = await walBytes(src);
  const readyAtEnd = readyCount(src.pgdata);
  const d0 = Date.now();
  let drainSeconds: number | null = null;
  while (Date.now() - d0 < opts.drainCapSeconds * 1000) {
    if (readyCount(src.pgdata) === 0) {
      drainSeconds = round((Date.now() - d0) / 1000, 1);
      break;
    }
    await sleep(200);
  }
  const s2 = await archiverStats(src);
  const after = await storedUnder(ctx, t.bucket, t.prefix);
  const segmentsWritten = (w1 - w0) / segment;
  const archivedDuringLoad = s1.archived - s0.archived;
  const storedObjects = after.objects - before.objects;
  return {
    run: r,
    archiver: t.archiver,
    loadSeconds: round(loadSeconds, 1),
    tps: round(Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN), 0),
    walWrittenBytes: w1 - w0,
    segmentsWritten: round(segmentsWritten, 1),
    segmentsArchivedDuringLoad: archivedDuringLoad,
    segmentsArchivedTotal: s2.archived - s0.archived,
    archivedPerSecond: round(archivedDuringLoad / loadSeconds, 2),
    writtenPerSecond: round(segmentsWritten / loadSeconds, 2),
    readyMedian: median(ready),
    readyMax: max(ready),
    readyAtEnd,
    drainSeconds,
    keepsUp: archivedDuringLoad >= Math.floor(segmentsWritten) - 2,
    failures: s2.failed - s0.failed,
    storedBytes: after.bytes - before.bytes,
    storedObjects,
    bytesPerSegment: storedObjects > 0 ? Math.round((after.bytes - before.bytes) / storedObjects) : NaN,
    agentRssMaxMiB: agentRss.length ? round(max(agentRss), 1) : undefined,
    load1: round(load, 2),
  };
}

main().catch(e => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
