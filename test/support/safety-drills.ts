/**
 * Helpers of the safety drills (issue 12): a cluster synthesized with a BackupStore that archives to the test RGW,
 * its base backup Job, a writer that keeps every acknowledgment and error, and the restore of the oldest kept base
 * backup to `latest` with the rows it holds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ClientConfig } from 'pg';
import { ANNOTATIONS, names } from '../../lib/contract';
import { parseLsn } from '../../agent/src/postgres/wal';
import { RestoredRows, restoreOldestToLatest } from './restore-latest';
import { ClusterHarness, eventually, query, sleep } from './cluster-harness';
import { storeEnv, storeEnvRewrite } from './backup';
import { KubeObject } from './manifests';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, uniqueBucketName } from './s3';

export { STORE_SECRET, synthWithStore as synthBackedUp } from './synth';
import { STORE_SECRET } from './synth';

export const say = (...parts: unknown[]) => console.log(parts.join(' ')); // eslint-disable-line no-console

/** The cluster of a drill, its bucket and helpers. */
export class Drill {
  readonly h: ClusterHarness;
  readonly bucket = uniqueBucketName('safety');
  ep!: S3Endpoint;
  su = '';

  constructor(
    readonly name: string,
    objects: KubeObject[],
  ) {
    this.h = new ClusterHarness(objects, name);
  }

  env(): Record<string, string> {
    return storeEnv(this.ep, this.bucket, this.name);
  }

  rw(): ClientConfig {
    return this.h.connectionFromUri(this.h.secretData(`${this.name}-app`)!.uri);
  }

  direct(ordinal: number, database = 'app'): ClientConfig {
    return this.h.direct(ordinal, 'postgres', this.su, database);
  }

  /** S3, Secrets, instances (all ready), the events table, and a first base backup (the oldest kept). */
  async start(instances: number, env: (ordinal: number) => Record<string, string> = () => ({})): Promise<void> {
    this.ep = await ensureS3();
    await createBucket(this.bucket);
    await this.h.start();
    this.h.seedSecret(STORE_SECRET, { AccessKey: this.ep.accessKeyId, SecretKey: this.ep.secretAccessKey });
    this.h.rewriteEnv = storeEnvRewrite(this.ep.endpoint, this.bucket);
    const secrets = await this.h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
    this.su = this.h.secretData(`${this.name}-superuser`)!.password;
    for (let i = 0; i < instances; i++) {
      this.h.startInstance(i, env(i));
      await this.h.waitReady(i, 120000);
    }
    await eventually(() => query(this.rw(), 'CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())'), 30000);
    await this.backup();
  }

  /** Runs the cluster's backup CronJob once (as a Job made from it). */
  async backup(): Promise<string> {
    const p = await this.h.runJob(`${this.name}-backup`);
    const code = await p.exited;
    if (code !== 0) throw new Error(`backup exited ${code}:\n${p.lines.slice(-15).join('\n')}`);
    return p.logs().find(l => l.msg === 'backup complete (backup.info DONE)').backupId;
  }

  /** Ends the current WAL segment on the primary `ordinal` and waits until the archiver stored it. */
  async archiveNow(ordinal: number, timeoutMs = 60000): Promise<string> {
    const [{ f }] = await query(this.direct(ordinal, 'postgres'), 'SELECT pg_walfile_name(pg_switch_wal()) AS f');
    await eventually(
      async () => {
        const [{ w }] = await query(this.direct(ordinal, 'postgres'), 'SELECT last_archived_wal AS w FROM pg_stat_archiver');
        if (!w || w < f) throw new Error(`segment ${f} not archived yet (last ${w})`);
      },
      timeoutMs,
      500,
    );
    return f;
  }

  /** Restores the oldest complete base backup and replays the archive to its end: the ids of `events` there. */
  restoreLatest(): Promise<RestoredRows> {
    return restoreOldestToLatest({ ep: this.ep, bucket: this.bucket, serverName: this.name, superuserPassword: this.su, database: 'app' });
  }

  /** The system identifier of the server of pod `ordinal`. */
  async systemIdentifier(ordinal: number): Promise<string> {
    return (await query(this.direct(ordinal, 'postgres'), 'SELECT system_identifier::text AS s FROM pg_control_system()'))[0].s;
  }

  /** The primary LSN published on the Lease, sampled every 100 ms; `backwards()` lists each decrease. */
  sampleLeaseLsn() {
    const samples: Array<{ at: number; lsn: string; holder?: string }> = [];
    const timer = setInterval(() => {
      const l = this.h.api.get('leases', this.h.namespace, names.lease(this.name)) as any;
      const lsn = l?.metadata?.annotations?.[ANNOTATIONS.primaryLsn];
      if (lsn && samples[samples.length - 1]?.lsn !== lsn) samples.push({ at: Date.now(), lsn, holder: l?.spec?.holderIdentity });
    }, 100);
    const value = parseLsn;
    return {
      samples,
      stop: () => clearInterval(timer),
      backwards: () =>
        samples
          .slice(1)
          .map((s, i) => ({ from: samples[i], to: s }))
          .filter(x => value(x.to.lsn) < value(x.from.lsn)),
    };
  }

  async stop(): Promise<void> {
    await this.h.stop();
    await deleteBucketRecursive(this.bucket).catch(() => undefined);
  }
}

/**
 * Inserts into `events` through `conn` as fast as it can; only rows whose INSERT returned are acknowledged (with
 * the time). Error messages are counted (e.g. `relation "events" does not exist` from a wrong database).
 */
export function ackWriter(conn: () => ClientConfig, timeoutMs = 3000) {
  const acknowledged: number[] = [];
  const ackTimes: number[] = [];
  const errors = new Map<string, number>();
  let stop = false;
  let next = Date.now() * 1000;
  const done = (async () => {
    while (!stop) {
      const id = next++;
      try {
        await query({ ...conn(), connectionTimeoutMillis: 1000, query_timeout: timeoutMs }, 'INSERT INTO events (id) VALUES ($1)', [id]);
        acknowledged.push(id);
        ackTimes.push(Date.now());
      } catch (e) {
        const m = (e as Error).message.replace(/\d+/g, 'N');
        errors.set(m, (errors.get(m) ?? 0) + 1);
        await sleep(100);
      }
    }
  })();
  return {
    acknowledged,
    ackTimes,
    errors,
    /** The longest time between two acknowledgments within [from, to]. */
    longestGap(from = 0, to = Infinity): number {
      const t = ackTimes.filter(x => x >= from && x <= to);
      let gap = 0;
      for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i] - t[i - 1]);
      return gap;
    },
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** Rows acknowledged but missing from `ids`. */
export function missing(acknowledged: number[], ids: Set<number>): number[] {
  return acknowledged.filter(id => !ids.has(id));
}

export async function idsOn(conn: ClientConfig): Promise<Set<number>> {
  return new Set((await query(conn, 'SELECT id::text FROM events')).map(r => Number(r.id)));
}

/** Empties a directory (a lost volume), keeping the directory itself (the mount point). */
export function emptyDir(dir: string): void {
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

/** Waits until no process of the pod is left, keeping its cgroup (the harness's stop() thaws and releases it). */
export async function podGone(p: { podAlive(): boolean }, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (p.podAlive() && Date.now() < deadline) await sleep(20);
  if (p.podAlive()) throw new Error('pod processes still alive');
}
