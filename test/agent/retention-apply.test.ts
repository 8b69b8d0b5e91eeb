/**
 * applyRetention against the real Ceph RGW: a synthetic store in barman-cloud's layout (backup.info files in
 * barman's format, written by the catalog's serializer; dummy data tars, WAL objects), a dry run that deletes nothing, a real run after which exactly
 * the expected keys remain (deletes through DeleteObjects, which SDK v3 sends with a CRC32 header), a run that
 * aborts because a backup appeared between plan and delete, and the `pg-agent retention` command as a process.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { BACKUP_DEFAULTS, BACKUP_ENV, backupIdFor, s3Layout, type RetentionSpec } from '../../lib/contract';
import { serializeBackupInfo, type BackupInfo, type BackupStatus } from '../../agent/src/catalog/backup-info';
import { listBackups } from '../../agent/src/catalog/catalog';
import type { Logger } from '../../agent/src/common/log';
import type { S3Bucket } from '../../agent/src/s3/client';
import { listPrefix, putObject } from '../../agent/src/s3/objects';
import type { StoreConfig } from '../../agent/src/store/config';
import { applyRetention, type BackupLister, type RetentionReport } from '../../agent/src/retention/apply';
import { createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { AGENT_BUNDLE } from '../support/pod-runner';

const DAY = 86_400_000;
const TODAY = Math.floor(Date.now() / DAY) * DAY; // 00:00 UTC today
const NOW = new Date(TODAY + 12 * 3600_000);
const PREFIX = 'clusters/';
const SYSTEM = '7412345678901234567';
const SEGS_PER_DAY = 8;

// ---- the synthetic store ----

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
const segName = (tl: number, n: number) => `${hex8(tl)}${hex8(Math.floor(n / 256))}${hex8(n % 256)}`;
const parseSeg = (name: string) => ({
  tl: parseInt(name.slice(0, 8), 16),
  n: parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16),
});

interface Store {
  readonly s3: S3Bucket;
  readonly store: StoreConfig;
  /** DONE backups, oldest first, with their day (ms at 00:00 UTC), timeline and first segment number. */
  readonly done: { info: BackupInfo; day: number; tl: number; seg: number }[];
  /** Every key under the server's folder, sorted. */
  readonly keys: string[];
  /** With leftovers: the FAILED backup and the folder still uploading. */
  readonly failedId?: string;
  readonly runningId?: string;
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

function backup(server: string, at: Date, status: BackupStatus, tl: number, seg: number): BackupInfo {
  return {
    backupId: backupIdFor(at),
    status,
    serverName: server,
    systemIdentifier: SYSTEM,
    timeline: tl,
    beginTime: at,
    endTime: status === 'DONE' ? new Date(at.getTime() + 10 * 60_000) : undefined,
    beginWal: segName(tl, seg),
    endWal: status === 'DONE' ? segName(tl, seg + 1) : undefined,
    beginLsn: `0/${(seg * 16).toString(16).toUpperCase()}00028`,
    endLsn: status === 'DONE' ? `0/${(seg * 16 + 16).toString(16).toUpperCase()}00100` : undefined,
    pgVersion: 150018,
    size: 30_000_000,
    compression: 'gzip',
    error: status === 'FAILED' ? 'connection lost' : undefined,
    backupLabel: `START WAL LOCATION: 0/0 (file ${segName(tl, seg)})\nCHECKPOINT LOCATION: 0/0\n`,
  };
}

async function putBackup(s3: S3Bucket, store: StoreConfig, b: BackupInfo, extra: Record<string, number> = {}): Promise<void> {
  const dir = s3Layout.backupDir(store.prefix, store.serverName, b.backupId);
  for (const [name, size] of Object.entries({ 'data.tar.gz': 2048, ...extra })) await putObject(s3, dir + name, Buffer.alloc(size, 7));
  await putObject(s3, s3Layout.backupInfo(store.prefix, store.serverName, b.backupId), Buffer.from(serializeBackupInfo(b)));
}

/**
 * `days` daily DONE backups at 00:00 UTC up to today, timeline 2 from `switchDay` days ago; WAL from segment 1
 * to today's; plus the extras of `withLeftovers`.
 */
async function writeStore(bucket: string, server: string, days: number, switchDay: number, withLeftovers: boolean): Promise<Store> {
  const s3 = await s3For(bucket);
  const ep = await ensureS3();
  const store: StoreConfig = {
    s3: { endpoint: ep.endpoint, bucket, accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey, region: ep.region },
    prefix: PREFIX,
    serverName: server,
    compression: 'gzip',
    walCompression: 'gzip',
    walMaxParallel: 4,
  };
  const done: Store['done'] = [];
  const switchSeg = 2 + (days - switchDay) * SEGS_PER_DAY - 3; // promotion: the day before the first TL2 backup
  for (let ago = days - 1; ago >= 0; ago--) {
    const day = TODAY - ago * DAY;
    const seg = 2 + (days - 1 - ago) * SEGS_PER_DAY;
    const tl = ago < switchDay ? 2 : 1;
    done.push({ info: backup(server, new Date(day), 'DONE', tl, seg), day, tl, seg });
  }
  const walNames: string[] = [];
  const lastSeg = 2 + days * SEGS_PER_DAY;
  for (let n = 1; n <= switchSeg + 1; n++) walNames.push(segName(1, n));
  walNames.push(`${segName(1, switchSeg)}.partial`, '00000002.history');
  for (let n = switchSeg; n <= lastSeg; n++) walNames.push(segName(2, n));
  for (const d of done) walNames.push(`${d.info.beginWal}.00000028.backup`);

  const tasks: (() => Promise<unknown>)[] = [];
  for (const d of done) tasks.push(() => putBackup(s3, store, d.info, d.tl === 1 && d.seg % 3 === 0 ? { '16385.tar.gz': 512 } : {}));
  for (const name of walNames) {
    const history = name.endsWith('.history');
    tasks.push(() =>
      putObject(
        s3,
        s3Layout.walKey(store.prefix, server, name, history ? 'none' : 'gzip'),
        Buffer.alloc(history ? 42 : 64 + (parseSeg(name).n % 50), 1),
      ),
    );
  }
  let failedId: string | undefined, runningId: string | undefined;
  if (withLeftovers) {
    // a failed backup 5 days ago, a folder still uploading (no backup.info yet), and a folder that is not a backup
    const failed = backup(server, new Date(TODAY - 5 * DAY + 3 * 3600_000), 'FAILED', 2, lastSeg - 5 * SEGS_PER_DAY + 4);
    failedId = failed.backupId;
    runningId = backupIdFor(new Date(Date.now() - 3600_000));
    tasks.push(() => putBackup(s3, store, failed));
    tasks.push(() => putObject(s3, `${s3Layout.backupDir(PREFIX, server, runningId!)}data.tar.gz`, Buffer.alloc(4096, 3)));
    tasks.push(() => putObject(s3, `${s3Layout.baseRoot(PREFIX, server)}notes/README`, Buffer.from('hands off')));
  }
  await pool(tasks, 16, t => t());
  return { s3, store, done, keys: await serverKeys(s3, server), failedId, runningId };
}

async function serverKeys(s3: S3Bucket, server: string): Promise<string[]> {
  return (await listPrefix(s3, s3Layout.serverRoot(PREFIX, server))).map(o => o.key).sort();
}

/** The backups {daily: 7, monthly: 2} keeps, by day, computed with plain date arithmetic. */
function expectedDaysDaily7Monthly2(): number[] {
  const days = new Set<number>();
  for (let ago = 0; ago < 7; ago++) days.add(TODAY - ago * DAY);
  const d = new Date(TODAY);
  days.add(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 0)); // last day of the previous month
  return [...days].sort();
}

/** Keys that must remain: kept backups' folders, the running folder, the stray folder, and WAL from the boundary. */
function expectedRemaining(st: Store, keptDays: number[]): string[] {
  const kept = st.done.filter(d => keptDays.includes(d.day));
  const oldest = kept[0];
  const base = s3Layout.baseRoot(PREFIX, st.store.serverName);
  const wals = s3Layout.walsRoot(PREFIX, st.store.serverName);
  const keptFolders = new Set([...kept.map(k => k.info.backupId), st.runningId, 'notes']);
  return st.keys
    .filter(key => {
      if (key.startsWith(base)) return keptFolders.has(key.slice(base.length).split('/')[0]);
      if (key.startsWith(wals)) {
        const name = key.slice(key.lastIndexOf('/') + 1);
        if (name.endsWith('.history')) return true;
        const { tl, n } = parseSeg(name);
        return tl > oldest.tl || (tl === oldest.tl && n >= oldest.seg);
      }
      return true;
    })
    .sort();
}

function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = { info: (_o: unknown, msg: string) => lines.push(msg), warn: (_o: unknown, msg: string) => lines.push(msg) } as unknown as Logger;
  return { log, lines };
}

/** Records the DeleteObjects requests the client sends, and their results. */
function recordDeletes(s3: S3Bucket): { key: string[]; ok: boolean }[] {
  const calls: { key: string[]; ok: boolean }[] = [];
  const send = s3.client.send.bind(s3.client) as (c: unknown, o?: unknown) => Promise<unknown>;
  (s3.client as unknown as { send: unknown }).send = async (cmd: unknown, opts?: unknown) => {
    if (cmd instanceof DeleteObjectsCommand) {
      const entry = { key: (cmd.input.Delete?.Objects ?? []).map(o => o.Key!), ok: false };
      calls.push(entry);
      const out = (await send(cmd, opts)) as { Errors?: unknown[] };
      entry.ok = (out.Errors ?? []).length === 0;
      return out;
    }
    return send(cmd, opts);
  };
  return calls;
}

/** The bundle `npm test` builds once (pretest); a test never rebuilds it under the feet of other workers. */
async function ensureBundle(): Promise<void> {
  if (!fs.existsSync(AGENT_BUNDLE)) throw new Error(`${AGENT_BUNDLE} is missing: run \`npm run build:agent\` (npm test does it first)`);
}

const bucket = uniqueBucketName('retention');
let main: Store;

beforeAll(async () => {
  await createBucket(bucket);
  main = await writeStore(bucket, 'app', 60, 10, true);
}, 300_000);

afterAll(async () => {
  main?.s3.destroy();
  await deleteBucketRecursive(bucket);
});

describe('applyRetention on Ceph RGW', () => {
  const spec: RetentionSpec = { daily: 7, monthly: 2 };
  let dry: RetentionReport;

  test('dry run: prints the plan, deletes nothing', async () => {
    const { log, lines } = captureLog();
    const deletes = recordDeletes(main.s3);
    dry = await applyRetention(main.s3, main.store, spec, { now: NOW, dryRun: true, log });
    expect(deletes).toEqual([]);
    expect(await serverKeys(main.s3, 'app')).toEqual(main.keys);

    const keptDays = expectedDaysDaily7Monthly2();
    const keptIds = main.done.filter(d => keptDays.includes(d.day)).map(d => d.info.backupId);
    const running = dry.backups.find(b => b.backupId === main.runningId)!;
    expect(running.status).toBe('STARTED');
    expect(
      dry.backups
        .filter(b => b.action === 'keep')
        .map(b => b.backupId)
        .sort(),
    ).toEqual([...keptIds, running.backupId].sort());
    expect(running.reasons).toEqual(['incomplete-running']);
    expect(dry.backups.find(b => b.backupId === main.failedId)).toMatchObject({ action: 'remove', status: 'FAILED' });
    expect(dry.backups.find(b => b.backupId === backupIdFor(new Date(TODAY)))?.reasons).toEqual(['newest', 'daily', 'monthly']);
    expect(dry.kept).toBe(keptIds.length + 1);
    expect(dry.removed).toBe(60 - keptIds.length + 1);
    expect(dry.backups.some(b => b.backupId === 'notes')).toBe(false);

    const oldest = main.done.find(d => d.day === keptDays[0])!;
    expect(dry.wal.boundary).toBe(oldest.info.beginWal);
    // one log line per backup, then the summary
    expect(lines.filter(l => /^retention: \d{8}T\d{6} {2}(DONE|FAILED|STARTED)/.test(l)).length).toBe(dry.kept + dry.removed);
    expect(lines.some(l => l.includes(`${backupIdFor(new Date(TODAY))}  DONE    ended`) && l.includes('keep    newest, daily, monthly'))).toBe(true);
    expect(lines.at(-1)).toMatch(/^retention \(dry run\): would keep \d+ backups, remove \d+ and \d+ WAL files, freeing/);
  });

  test('for real: exactly the expected keys remain, deleted through DeleteObjects, backup.info first', async () => {
    const before = await listPrefix(main.s3, s3Layout.serverRoot(PREFIX, 'app'));
    const deletes = recordDeletes(main.s3);
    const report = await applyRetention(main.s3, main.store, spec, { now: NOW, log: captureLog().log });
    const after = await serverKeys(main.s3, 'app');
    const expected = expectedRemaining(main, expectedDaysDaily7Monthly2());
    expect(after).toEqual(expected);

    // the report says what went
    const gone = before.filter(o => !after.includes(o.key));
    expect(report.objectsRemoved).toBe(gone.length);
    expect(report.bytesFreed).toBe(gone.reduce((n, o) => n + o.size, 0));
    expect(report).toEqual({ ...dry, dryRun: false });

    // DeleteObjects with the SDK's CRC32 header works against RGW 16; the order is backup.info, other objects, WAL
    expect(deletes.length).toBe(3);
    expect(deletes.every(d => d.ok)).toBe(true);
    expect(deletes[0].key.every(k => k.endsWith('/backup.info'))).toBe(true);
    expect(deletes[0].key.length).toBe(report.removed);
    expect(deletes[1].key.every(k => k.includes('/base/') && !k.endsWith('/backup.info'))).toBe(true);
    expect(deletes[2].key.every(k => k.includes('/wals/'))).toBe(true);
    expect(deletes[2].key.length).toBe(report.wal.removed);
    expect(report.wal.removed).toBeGreaterThan(200);

    // a second run has nothing left to do
    const again = await applyRetention(main.s3, main.store, spec, { now: NOW, log: captureLog().log });
    expect(again.removed).toBe(0);
    expect(again.objectsRemoved).toBe(0);
    expect(await serverKeys(main.s3, 'app')).toEqual(expected);
  });

  test('a folder without backup.info is removed once idle for longer than the grace period', async () => {
    const later = new Date(Date.now() + 25 * 3600_000);
    const report = await applyRetention(main.s3, main.store, spec, { now: later, dryRun: true, log: captureLog().log });
    const started = report.backups.find(b => b.status === 'STARTED')!;
    expect(started.action).toBe('remove');
    expect(started.why).toMatch(/^incomplete \(STARTED\), idle for 1d/);
  });
});

describe('a backup appearing between plan and delete', () => {
  test('aborts the run; nothing is deleted', async () => {
    const st = await writeStore(bucket, 'race', 20, 100, false);
    try {
      let calls = 0;
      let added: string[] = [];
      const racing: BackupLister = async (s3, store) => {
        if (++calls === 2) {
          // a backup finishes after retention planned, before it deletes (the re-listing sees it)
          const last = st.done[st.done.length - 1];
          const b = backup('race', new Date(TODAY + 6 * 3600_000), 'DONE', last.tl, last.seg + 4);
          await putBackup(s3, store, b);
          added = [s3Layout.backupInfo(PREFIX, 'race', b.backupId), `${s3Layout.backupDir(PREFIX, 'race', b.backupId)}data.tar.gz`];
        }
        return listBackups(s3, store);
      };
      const deletes = recordDeletes(st.s3);
      await expect(applyRetention(st.s3, st.store, { daily: 7 }, { now: NOW, listBackups: racing, log: captureLog().log })).rejects.toThrow(
        /the store changed while retention was planning \(backup \d{8}T060000 appeared\); nothing was deleted/,
      );
      expect(calls).toBe(2);
      expect(deletes).toEqual([]);
      expect(await serverKeys(st.s3, 'race')).toEqual([...st.keys, ...added].sort());
    } finally {
      st.s3.destroy();
    }
  });
});

describe('a backup.info that cannot be read', () => {
  test('stops the run before anything is deleted', async () => {
    const st = await writeStore(bucket, 'bad', 12, 100, false);
    try {
      const damaged = st.done[2].info.backupId;
      await putObject(st.s3, s3Layout.backupInfo(PREFIX, 'bad', damaged), Buffer.from('status=DONE\nthis line is not a field\n'));
      const deletes = recordDeletes(st.s3);
      await expect(applyRetention(st.s3, st.store, { daily: 3 }, { now: NOW, log: captureLog().log })).rejects.toThrow(
        `retention: cannot read the backup.info of backup ${damaged}`,
      );
      expect(deletes).toEqual([]);
      expect(await serverKeys(st.s3, 'bad')).toEqual(st.keys);
    } finally {
      st.s3.destroy();
    }
  });
});

describe('pg-agent retention (the bundled command, as a process)', () => {
  let env: NodeJS.ProcessEnv;
  let st: Store;

  beforeAll(async () => {
    await ensureBundle();
    st = await writeStore(bucket, 'cmd', 30, 5, false);
    const ep = await ensureS3();
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      [BACKUP_ENV.endpoint]: ep.endpoint,
      [BACKUP_ENV.bucket]: bucket,
      [BACKUP_ENV.prefix]: PREFIX.slice(0, -1),
      [BACKUP_ENV.region]: ep.region,
      [BACKUP_ENV.forcePathStyle]: 'true',
      [BACKUP_ENV.accessKeyId]: ep.accessKeyId,
      [BACKUP_ENV.secretAccessKey]: ep.secretAccessKey,
      [BACKUP_ENV.serverName]: 'cmd',
      [BACKUP_ENV.compression]: BACKUP_DEFAULTS.compression,
      [BACKUP_ENV.walCompression]: BACKUP_DEFAULTS.walCompression,
      [BACKUP_ENV.walMaxParallel]: String(BACKUP_DEFAULTS.walMaxParallel),
      [BACKUP_ENV.retention]: JSON.stringify({ recoveryWindow: '7d', weekly: 2 }),
    };
  }, 300_000);

  afterAll(() => st?.s3.destroy());

  const agent = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [AGENT_BUNDLE, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });

  test('--dry-run --json prints the report and deletes nothing', async () => {
    const out = agent(['retention', '--dry-run', '--json']);
    expect(out.stderr).not.toMatch(/"level":"(error|fatal)"/);
    expect(out.status).toBe(0);
    const report = JSON.parse(out.stdout) as RetentionReport;
    // window 7d from now: the backups that ended within the last 7 days, plus the one before; weekly 2: the newest
    // of this ISO week and of the week before
    const now = Date.parse(report.now);
    const windowStart = now - 7 * DAY;
    const inWindow = st.done.filter(d => d.info.endTime!.getTime() >= windowStart);
    const before = st.done.filter(d => d.info.endTime!.getTime() < windowStart).at(-1)!;
    const monday = (t: number) => t - ((new Date(t).getUTCDay() + 6) % 7) * DAY;
    const thisWeek = monday(TODAY);
    const weekly = [st.done.at(-1)!, st.done.filter(d => d.day < thisWeek).at(-1)!];
    const expected = [...new Set([...inWindow, before, ...weekly].map(d => d.info.backupId))].sort();
    expect(report.dryRun).toBe(true);
    expect(report.spec).toEqual({ recoveryWindow: '7d', weekly: 2 });
    expect(
      report.backups
        .filter(b => b.action === 'keep')
        .map(b => b.backupId)
        .sort(),
    ).toEqual(expected);
    expect(report.kept).toBe(expected.length);
    expect(report.removed).toBe(30 - expected.length);
    const oldest = st.done.find(d => d.info.backupId === expected[0])!;
    expect(report.wal.boundary).toBe(oldest.info.beginWal);
    expect(report.objectsRemoved).toBeGreaterThan(0);
    // the plan is in the log, one JSON line per backup
    expect(out.stderr.split('\n').filter(l => l.includes('"msg":"retention: ')).length).toBeGreaterThanOrEqual(30);
    expect(await serverKeys(st.s3, 'cmd')).toEqual(st.keys);
  });

  test('without --json: a table on stdout', () => {
    const out = agent(['retention', '--dry-run']);
    expect(out.status).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^keep {4}\d{8}T\d{6} {2}DONE {4}ended \S+ +[\d.]+ KiB {2}newest, window, weekly$/);
    expect(lines.at(-1)).toMatch(/^dry run: kept \d+ backups; would remove \d+ backups and \d+ WAL files: \d+ objects, /);
  });

  test('a retention policy that keeps nothing is refused', () => {
    const out = agent(['retention', '--dry-run'], { [BACKUP_ENV.retention]: '{"daily":0}' });
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/retention policy: PGC_RETENTION: keeps nothing/);
  });
});
