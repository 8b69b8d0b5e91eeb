/**
 * `pg-agent backup`: what the backup CronJob (and the immediate Job) runs. In this order, each step failing with
 * one clear line: the store answers (credentials, bucket); the source instance answers (waiting while the
 * cluster starts); the archive is this database's; leftovers of killed backups are removed; the backup runs;
 * retention applies.
 */
import { backupIdFor } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { createS3Client, describeS3Config } from '../s3/client';
import { headObject } from '../s3/objects';
import { s3Layout } from '../../../lib/contract';
import { listBackupFolders } from '../catalog/catalog';
import { archiveSystemIdentifier } from '../wal/identity';
import { readBackupConfig } from './config';
import { cleanLeftovers } from './leftovers';
import { applyRetentionAfterBackup } from './retention-step';
import { runBaseBackup } from './run';
import { waitForSource } from './source';
import { JobEvents } from '../k8s/job-events';
import { incrementalLayout } from '../../../lib/contract';
import { BackupKind, decideBackupKind } from '../decide/backup-chain';
import { listChainLinks } from '../incremental/catalog';
import { runIncrementalBackup } from '../incremental/run';
import { abortStaleIncrementalUploads } from '../incremental/leftovers';
import { S3Bucket } from '../s3/client';
import { SourceIdentity } from './source';
import { BackupConfig } from './config';

export interface BackupCommandOptions {
  /** How long to wait for the source instance. @default 10 min */
  sourceWaitMs?: number;
}

/** `pg-agent backup`, recording Events on its pod (BackupStarted, BackupCompleted, BackupFailed, RetentionDeleted). */
export async function backupCommand(env: NodeJS.ProcessEnv = process.env, opts: BackupCommandOptions = {}): Promise<number> {
  const events = new JobEvents(env);
  try {
    return await backup(env, opts, events);
  } catch (e) {
    events.backupFailed((e as Error).message, (e as { fix?: string }).fix);
    throw e;
  } finally {
    await events.settled();
  }
}

async function backup(env: NodeJS.ProcessEnv, opts: BackupCommandOptions, events: JobEvents): Promise<number> {
  const cfg = readBackupConfig(env);
  const { store } = cfg;
  const s3 = createS3Client(store.s3);
  const where = `s3://${store.s3.bucket}/${s3Layout.serverRoot(store.prefix, store.serverName)}`;
  try {
    // The store first: wrong keys or a missing bucket fail now, not after the copy.
    await listBackupFolders(s3, store);
    log.info({ ...describeS3Config(store.s3), server: store.serverName, compression: store.compression }, 'backup store reachable');

    const source = await waitForSource(cfg, { waitMs: opts.sourceWaitMs });
    log.info(
      {
        source: `${source.source.host}:${source.source.port}`,
        standby: source.standby,
        systemIdentifier: source.systemIdentifier,
        version: source.pgVersion,
      },
      'backup source ready',
    );
    const archived = await archiveSystemIdentifier(s3, store);
    if (archived !== undefined && archived !== source.systemIdentifier) {
      throw new AgentError(
        `the archive at ${where} belongs to another database (system identifier ${archived}, this one is ${source.systemIdentifier}); refusing to back up into it`,
        'A restored or re-created cluster needs its own folder: set backup.serverName to a new name.',
        { archive: where },
      );
    }

    // barman's ids have a one-second resolution: never reuse the folder of another backup.
    let beginTime = new Date();
    const taken = async (id: string) =>
      (await headObject(s3, s3Layout.backupInfo(store.prefix, store.serverName, id))) ||
      (await headObject(s3, incrementalLayout.info(store.prefix, store.serverName, id)));
    while (await taken(backupIdFor(beginTime))) {
      await new Promise(r => setTimeout(r, 1000));
      beginTime = new Date();
    }
    const backupId = backupIdFor(beginTime);
    await cleanLeftovers(s3, store, backupId);
    if (cfg.fullEveryMs !== undefined) {
      await abortStaleIncrementalUploads(s3, store, backupId);
      const kind = decideBackupKind({ fullEveryMs: cfg.fullEveryMs, now: beginTime, links: (await listChainLinks(s3, store)).links, source });
      log.info({ backupId, kind: kind.kind, why: kind.why }, 'backup kind chosen');
      if (kind.kind === 'incremental') return await incremental(s3, cfg, source, backupId, beginTime, kind, events);
    }

    log.info({ backupId, key: s3Layout.dataTar(store.prefix, store.serverName, backupId, store.compression) }, 'backup starting');
    events.backupStarted(backupId, `${source.source.host}:${source.source.port}`);
    let stop: ((why: string) => void) | undefined;
    const onSignal = (signal: string) => stop?.(signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    let info;
    try {
      info = await runBaseBackup(s3, store, source, cfg.replicationPassword, backupId, beginTime, {
        onStop: s => {
          stop = s;
        },
        recordRelationFiles: cfg.fullEveryMs !== undefined,
      });
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    const seconds = (info.endTime!.getTime() - beginTime.getTime()) / 1000;
    const stats = info.copyStats ?? {};
    log.info(
      {
        backupId,
        beginLsn: info.beginLsn,
        endLsn: info.endLsn,
        beginWal: info.beginWal,
        endWal: info.endWal,
        timeline: info.timeline,
        sizeBytes: info.size,
        storedBytes: stats.data_size,
        ratio: Number(info.size) && Number(stats.data_size) ? Number((info.size / Number(stats.data_size)).toFixed(2)) : undefined,
        seconds: Number(seconds.toFixed(1)),
      },
      'backup complete (backup.info DONE)',
    );

    events.backupCompleted(backupId, info.size, seconds);
    await applyRetentionAfterBackup(s3, store, cfg.retention, events);
    return 0;
  } finally {
    s3.destroy();
  }
}

/** The incremental branch of `pg-agent backup` (the decision said so): the backup, then retention. */
async function incremental(
  s3: S3Bucket,
  cfg: BackupConfig,
  source: SourceIdentity,
  backupId: string,
  beginTime: Date,
  kind: Extract<BackupKind, { kind: 'incremental' }>,
  events: JobEvents,
): Promise<number> {
  const { store } = cfg;
  events.backupStarted(backupId, `${source.source.host}:${source.source.port}`);
  let stop: ((why: string) => void) | undefined;
  const onSignal = (signal: string) => stop?.(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let info;
  try {
    info = await runIncrementalBackup(s3, store, source, cfg.replicationPassword, backupId, beginTime, kind.parent, kind.chain[0], {
      onStop: s => {
        stop = s;
      },
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const seconds = (Date.parse(info.endTime) - beginTime.getTime()) / 1000;
  log.info(
    {
      backupId,
      kind: 'incremental',
      parent: info.parent,
      full: info.full,
      beginLsn: info.beginLsn,
      endLsn: info.endLsn,
      sizeBytes: info.size,
      storedBytes: info.dataSize,
      pagesStored: info.pagesStored,
      pagesSeen: info.pagesSeen,
      seconds: Number(seconds.toFixed(1)),
    },
    'backup complete (incremental.json DONE)',
  );
  events.backupCompleted(backupId, info.size, seconds);
  await applyRetentionAfterBackup(s3, store, cfg.retention, events);
  return 0;
}
