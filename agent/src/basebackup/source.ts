/**
 * Finds the instance to back up and learns what backup.info needs before the copy starts: a replication
 * connection (the same role and password pg_basebackup uses) runs IDENTIFY_SYSTEM and SHOW. The immediate backup
 * Job starts with the cluster, so the source may not be up yet: wait for it, for a bounded time.
 */
import { Client } from 'pg';
import { REPLICATION_USER } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { parseSizeSetting } from '../postgres/wal';
import { BackupConfig } from './config';
import { BaseBackupSource } from './pg-basebackup';
import { pgSslFromEnv } from '../common/pg-tls';

export interface SourceIdentity {
  readonly source: BaseBackupSource;
  readonly systemIdentifier: string;
  readonly timeline: number;
  /** e.g. 150020 */
  readonly pgVersion: number;
  readonly walSegmentSize: number;
  readonly standby: boolean;
}

const where = (s: BaseBackupSource) => `${s.host}:${s.port}`;

/** One replication connection: who the server is. Throws with the server's or the network's message. */
export async function identify(source: BaseBackupSource, password: string, timeoutMs = 5000): Promise<SourceIdentity> {
  const client = new Client({
    host: source.host,
    port: source.port,
    user: REPLICATION_USER,
    password,
    replication: 'true',
    connectionTimeoutMillis: timeoutMs,
    application_name: 'pg-agent backup',
    ssl: pgSslFromEnv(),
  } as ConstructorParameters<typeof Client>[0]);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const id = (await client.query('IDENTIFY_SYSTEM')).rows[0];
    const show = async (name: string) => {
      try {
        return String(Object.values((await client.query(`SHOW ${name}`)).rows[0])[0]);
      } catch {
        return undefined;
      }
    };
    const standby = await show('in_hot_standby'); // PostgreSQL 14+
    return {
      source,
      systemIdentifier: String(id.systemid),
      timeline: Number(id.timeline),
      pgVersion: Number(await show('server_version_num')),
      walSegmentSize: parseSizeSetting((await show('wal_segment_size')) ?? '16MB'),
      standby: standby === 'on',
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The source to back up, waiting up to `waitMs` for one to answer. With fromStandby, a standby behind the `-ro`
 * Service is preferred; when none answers (one instance, replicas not streaming yet), the primary at `-rw` is used.
 */
export async function waitForSource(cfg: BackupConfig, opts: { waitMs?: number; retryMs?: number } = {}): Promise<SourceIdentity> {
  const waitMs = opts.waitMs ?? 10 * 60_000;
  const deadline = Date.now() + waitMs;
  const candidates = cfg.fromStandby && where(cfg.source) !== where(cfg.primary) ? [cfg.source, cfg.primary] : [cfg.source];
  let lastLog = 0;
  for (let attempt = 1; ; attempt++) {
    const errors: string[] = [];
    for (const candidate of candidates) {
      try {
        const id = await identify(candidate, cfg.replicationPassword);
        if (candidate === cfg.source && candidates.length > 1 && !id.standby) {
          errors.push(`${where(candidate)} is not a standby`);
          continue;
        }
        if (candidate !== cfg.source)
          log.warn(
            { standby: where(cfg.source), primary: where(candidate) },
            'no standby answers on the read-only Service; taking the backup from the primary',
          );
        if (attempt > 1) log.info({ source: where(candidate), attempts: attempt }, 'backup source is up');
        return id;
      } catch (e) {
        errors.push(`${where(candidate)}: ${(e as Error).message}`);
      }
    }
    if (Date.now() >= deadline) {
      throw new AgentError(
        `no PostgreSQL instance accepted a replication connection for ${Math.round(waitMs / 1000)} s (${errors.join('; ')})`,
        'Check that the cluster is running and ready (kubectl get pods), and that the replication Secret matches; the Job retries.',
        { source: where(cfg.source) },
      );
    }
    if (Date.now() - lastLog > 30_000) {
      lastLog = Date.now();
      log.warn(
        { errors, waitingUpTo: `${Math.round((deadline - Date.now()) / 1000)} s more` },
        'waiting for the backup source to accept replication connections',
      );
    }
    await new Promise(r => setTimeout(r, opts.retryMs ?? 2000));
  }
}
