/**
 * `pg-agent verify`: proves that a backup restores. Restores the newest complete backup (or `--backup`) into a
 * scratch directory (every object checked against its stored checksum), replays the archived WAL after it (to the
 * end of the archive, or only to the backup's consistency point), starts PostgreSQL on it, runs pg_amcheck and
 * counts the chosen tables. Prints a JSON report; exit 0 when every check passed, 1 when a check failed, 2 when
 * the backup could not be restored or replayed, 3 when the scratch directory was refused (decide/scratch.ts: not
 * verify's own, or on the data volume; nothing deleted). Reads the store, and writes only the outcome, to
 * `<server>/restore-drill.json` (drill-result.ts: how the result reaches Prometheus).
 *
 * Replaying to `latest` must reach the end of the archive (invariant I4): before the replay, the archive is checked
 * for a continuous WAL range from the backup along the newest timeline (a gap fails at once, naming the missing
 * segment: exit 2); after the replay, where redo stopped must be in the last segment of that range.
 */
import * as fs from 'fs';
import * as path from 'path';
import { s3Layout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { backupContinuity, readArchiveContents } from '../catalog/archive-contents';
import { listRestorableBackups } from '../incremental/catalog';
import { parseLsn } from '../postgres/wal';
import { replayReachedEnd } from '../decide/archive';
import { restoreBaseBackup } from '../restore/base-backup';
import { createS3Client } from '../s3/client';
import { countTables, runAmcheck } from './checks';
import { readVerifyConfig } from './config';
import { scratchFacts, takeScratch } from './scratch-dir';
import { decideScratch } from '../decide/scratch';
import { recoveryOutcome, startScratchServer, writeScratchConfig } from './scratch-server';
import { JobEvents } from '../k8s/job-events';
import { readStoreConfig } from '../store/config';
import { DrillRun, recordDrillResult } from './drill-result';

/** A gap in the archive is listed again this many times, this far apart, before verify fails on it. */
const GAP_RECHECKS = 2;
const GAP_RECHECK_MS = 5000;

export interface VerifyOptions {
  backup?: string;
  replay?: string;
  scratch?: string;
}

/**
 * What a run reports once it knows its outcome. `drilled: false` (the scratch directory was refused, nothing was
 * restored) says nothing about the backups: an Event only, the store's result is left as it was.
 */
type ReportResult = (ok: boolean, backupId: string, detail: string, drilled?: boolean) => void;

/**
 * `pg-agent verify`, recording its result as an Event on its pod (DrillSucceeded, DrillFailed) and in the store
 * for the primary's metrics (drill-result.ts).
 */
export async function verifyCommand(opts: VerifyOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const events = new JobEvents(env);
  let result: { ok: boolean; run: DrillRun } | undefined;
  const report: ReportResult = (ok, backupId, detail, drilled = true) => {
    events.drillResult(ok, backupId, detail);
    if (drilled) result = { ok, run: { time: Date.now() / 1000, backupId, detail } };
  };
  try {
    return await verify(opts, env, report);
  } catch (e) {
    report(false, opts.backup ?? '', (e as Error).message);
    throw e;
  } finally {
    if (result) await publishDrillResult(env, result.ok, result.run);
    await events.settled();
  }
}

/** Best effort: a store that cannot take the result (it is unreachable, or the drill's rights are read-only) is logged. */
async function publishDrillResult(env: NodeJS.ProcessEnv, ok: boolean, run: DrillRun): Promise<void> {
  let s3;
  try {
    const store = readStoreConfig(env);
    // Two attempts: an unreachable store must not hold the Job's end for long.
    s3 = createS3Client({ ...store.s3, maxAttempts: 2 });
    await recordDrillResult(s3, store, ok, run);
  } catch (e) {
    log.warn(
      { err: (e as Error).message, fix: 'Let the drill write <server>/restore-drill.json in the store, or alert on its failed Jobs instead.' },
      'verify: cannot record the result in the store; pgc_restore_drill_* will not show this run',
    );
  } finally {
    s3?.destroy();
  }
}

async function verify(opts: VerifyOptions, env: NodeJS.ProcessEnv, reportResult: ReportResult): Promise<number> {
  const cfg = readVerifyConfig(env, { backupId: opts.backup, replay: opts.replay, scratch: opts.scratch });
  const where = `s3://${cfg.store.s3.bucket}/${s3Layout.baseRoot(cfg.store.prefix, cfg.store.serverName)}`;
  // The scratch directory must be verify's own (new, empty, or marked by an earlier run) and off the data volume:
  // below, verify deletes its pgdata/ and tablespaces/.
  const facts = scratchFacts(cfg.scratchDir, env);
  const decision = decideScratch(facts);
  if (decision.action === 'refuse') {
    log.error(
      { scratch: facts.scratch, invariant: decision.invariant, fix: decision.fix },
      `verify refuses the scratch directory ${facts.scratch}: ${decision.why}`,
    );
    reportResult(false, opts.backup ?? '', `the scratch directory ${facts.scratch} was refused: ${decision.why}`, false);
    return 3;
  }
  takeScratch(facts.scratch, decision.mark);
  log.info({ scratch: facts.scratch, why: decision.why }, 'verify: scratch directory taken');
  const pgdata = path.join(facts.scratch, 'pgdata');
  const tablespaceRoot = path.join(facts.scratch, 'tablespaces');
  const s3 = createS3Client(cfg.store.s3);
  const started = Date.now();
  // A previous run killed half-way (a PVC survives) must not make this one fail or restore over old files; the
  // marker says these are verify's own.
  fs.rmSync(pgdata, { recursive: true, force: true });
  fs.rmSync(tablespaceRoot, { recursive: true, force: true });
  fs.mkdirSync(cfg.socketDir, { recursive: true });
  try {
    // Incrementals too: the newest backup may be one (its whole chain is restored).
    const done = (await listRestorableBackups(s3, cfg.store)).filter(b => b.status === 'DONE');
    const backup = cfg.backupId
      ? done.find(b => b.backupId === cfg.backupId)
      : done.sort((a, b) => a.beginTime.getTime() - b.beginTime.getTime()).at(-1);
    if (!backup) {
      throw new AgentError(
        cfg.backupId ? `no complete backup ${cfg.backupId} in ${where}` : `no complete backup in ${where}`,
        'Take a backup first (the backup CronJob, or its -backup-initial Job); list them with `pg-agent list`.',
        { where },
      );
    }
    log.info({ backupId: backup.backupId, endTime: backup.endTime, replay: cfg.replay }, 'verify: restoring the backup into scratch space');
    const tablespaces = Object.fromEntries((backup.tablespaces ?? []).map(t => [t.name, path.join(tablespaceRoot, t.name)]));
    let restored;
    try {
      restored = await restoreBaseBackup(s3, cfg.store, backup.backupId, pgdata, { tablespaces, progressMessage: 'verify: restore in progress' });
    } catch (e) {
      if (e instanceof AgentError) throw e;
      throw new AgentError(
        `backup ${backup.backupId} does not restore: ${(e as Error).message}`,
        'The backup is damaged or unreadable: take a new backup now, and find out what changed it (the store, its lifecycle rules).',
        { backupId: backup.backupId },
      );
    }
    let continuity = backupContinuity(await readArchiveContents(s3, cfg.store), backup);
    // On a live cluster a gap may be an upload in flight (segments are archived in parallel): listed again first.
    for (let i = 0; i < GAP_RECHECKS && cfg.replay === 'latest' && continuity && !continuity.continuous; i++) {
      await new Promise(r => setTimeout(r, GAP_RECHECK_MS));
      continuity = backupContinuity(await readArchiveContents(s3, cfg.store), backup);
    }
    if (cfg.replay === 'latest' && continuity && !continuity.continuous) {
      process.stdout.write(JSON.stringify({ ok: false, backupId: backup.backupId, wal: continuity, failures: [continuity.why] }) + '\n');
      throw new AgentError(`verify failed: backup ${backup.backupId} cannot replay to the end of the archive: ${continuity.why}`, continuity.fix, {
        backupId: backup.backupId,
        missing: continuity.missing,
        invariant: continuity.invariant,
      });
    }
    log.info(
      {
        backupId: backup.backupId,
        walFrom: continuity?.from,
        walTo: continuity?.to,
        timeline: continuity?.timeline,
        continuous: continuity?.continuous,
      },
      "verify: the archive's WAL for this backup",
    );
    fs.chmodSync(pgdata, 0o700);
    writeScratchConfig(pgdata, cfg.socketDir, cfg.replay);

    const replayStarted = Date.now();
    let server;
    try {
      server = await startScratchServer(pgdata, cfg.socketDir, 24 * 3600);
    } catch (e) {
      const serverLog = (e as { serverLog?: string }).serverLog ?? '';
      throw new AgentError(
        `backup ${backup.backupId} restored, but PostgreSQL could not replay it: ${serverLog || (e as Error).message}`,
        'A WAL segment the backup needs is missing or damaged in the store: take a new backup now and check WAL archiving (pg_stat_archiver on the primary).',
        { backupId: backup.backupId },
      );
    }
    try {
      const outcome = recoveryOutcome(server.log());
      const replaySeconds = (Date.now() - replayStarted) / 1000;
      log.info({ ...outcome, seconds: replaySeconds }, 'verify: replay finished; running the checks');
      const amcheck = cfg.checks.amcheck ? await runAmcheck(server) : undefined;
      const tables = await countTables(server, cfg.checks.tables);
      // Replay to latest ends in the archive's last segment, or something after where it stopped was not read.
      const short =
        cfg.replay === 'latest' &&
        continuity?.continuous &&
        outcome.redoDoneAt &&
        !replayReachedEnd(parseLsn(outcome.redoDoneAt), continuity.to, backup.walSegmentSize);
      const failures = [
        ...(short
          ? [`replay stopped at ${outcome.redoDoneAt}, before the end of the archive (${continuity!.to}): WAL after that was not replayed`]
          : []),
        ...(amcheck && !amcheck.ok ? [`pg_amcheck: ${amcheck.findings.join(' | ')}`] : []),
        ...tables
          .filter(t => !t.ok)
          .map(t =>
            t.error ? `${t.database}.${t.table}: ${t.error}` : `${t.database}.${t.table}: ${t.rows} rows, fewer than the ${t.minRows} expected`,
          ),
      ];
      const report = {
        ok: failures.length === 0,
        backupId: backup.backupId,
        backupEnd: { time: backup.endTime?.toISOString(), lsn: backup.endLsn },
        restored: { files: restored.files, bytes: restored.bytes, seconds: restored.seconds },
        replay: { mode: cfg.replay, seconds: replaySeconds, ...outcome },
        wal: continuity,
        amcheck,
        tables,
        failures,
        seconds: (Date.now() - started) / 1000,
      };
      process.stdout.write(JSON.stringify(report) + '\n');
      if (report.ok)
        log.info(
          { backupId: backup.backupId, recoveredTo: outcome.lastTransactionAt, seconds: report.seconds },
          'verify passed: the backup restores, replays and passes its checks',
        );
      else
        log.error(
          {
            backupId: backup.backupId,
            failures,
            fix: 'The restored copy is not what it should be: keep the older backups (pause retention), take a new backup and look into the failures named here.',
          },
          `verify failed: ${failures.join('; ')}`,
        );
      reportResult(
        report.ok,
        backup.backupId,
        report.ok
          ? `restored, replayed to ${outcome.lastTransactionAt ?? 'the end of the archive'} and checked in ${report.seconds.toFixed(0)} s.`
          : failures.join('; '),
      );
      return report.ok ? 0 : 1;
    } finally {
      await server.stop();
    }
  } finally {
    s3.destroy();
    fs.rmSync(pgdata, { recursive: true, force: true });
    fs.rmSync(tablespaceRoot, { recursive: true, force: true });
  }
}
