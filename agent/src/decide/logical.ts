/**
 * The destructive decisions of logical backups and single-database restores (issue 18), as pure functions of what
 * the commands observed; table-tested in test/agent/decide-logical.test.ts.
 *
 * - {@link decideDatabaseRestore}: where a restore may go. A restore always goes into a side database first and is
 *   renamed into place only once pg_restore succeeded (I2). A database that exists is never replaced unless asked
 *   with `--overwrite`; one that holds anything (a table, view, sequence…) needs `--discard-existing-data` as well,
 *   and even then it is renamed aside (kept), never dropped.
 * - {@link planLogicalRetention}: which dumps of one database to delete, by the base backups' retention planner
 *   (agent/src/retention/plan.ts, the same window and GFS semantics), a dump's time being its end time.
 */
import { LogicalBackupMeta, RetentionSpec } from '../../../lib/contract';
import type { BackupInfo } from '../catalog/backup-info';
import { planRetention, KeepReason, PlanOptions } from '../retention/plan';
import { Decision, INVARIANTS } from './invariants';

export interface RestoreTargetFacts {
  /** The database the restore should end up as. */
  readonly target: string;
  readonly targetExists: boolean;
  /** Relations (tables, views, sequences, foreign tables) outside the system schemas; 0 when it does not exist. */
  readonly targetRelations: number;
  /** `--overwrite`: an existing target may be replaced. */
  readonly overwrite: boolean;
  /** `--discard-existing-data`: an existing target that holds relations may be replaced too (it is kept, renamed). */
  readonly discardExistingData: boolean;
  /** The name the existing target is renamed to when replaced. */
  readonly asideName: string;
}

export type RestoreTargetDecision =
  | { action: 'create'; why: string }
  | { action: 'replace'; why: string; asideName: string; invariant: typeof INVARIANTS.VERIFY_BEFORE_DESTROY }
  | Extract<Decision<never>, { action: 'wait' }>;

/** May the restore go into `target`? `create`, `replace` (the old one renamed to `asideName`), or a refusal (`wait`). */
export function decideDatabaseRestore(f: RestoreTargetFacts): RestoreTargetDecision {
  const invariant = INVARIANTS.VERIFY_BEFORE_DESTROY;
  if (!f.targetExists) return { action: 'create', why: `database "${f.target}" does not exist: the restore creates it` };
  if (!f.overwrite)
    return {
      action: 'wait',
      why: `database "${f.target}" exists and --overwrite was not given: nothing is overwritten unless asked`,
      fix: `Restore into a new name (--into <name>, or leave --into out for <db>_restored_<time>), or add --overwrite to replace "${f.target}".`,
      invariant,
    };
  if (f.targetRelations > 0 && !f.discardExistingData)
    return {
      action: 'wait',
      why: `database "${f.target}" holds ${f.targetRelations} relation(s): --overwrite replaces only an empty database`,
      fix: `Add --discard-existing-data as well to replace it (it is kept, renamed to "${f.asideName}"), or restore into a new name.`,
      invariant,
    };
  return {
    action: 'replace',
    why:
      f.targetRelations > 0
        ? `database "${f.target}" holds ${f.targetRelations} relation(s) and --overwrite --discard-existing-data were given: it is renamed to "${f.asideName}" once the restore succeeded`
        : `database "${f.target}" is empty and --overwrite was given: it is renamed to "${f.asideName}" once the restore succeeded`,
    asideName: f.asideName,
    invariant,
  };
}

/** One stored dump of a database: its metadata (complete) or only the dump object (running, or left by a failed run). */
export interface StoredDump {
  readonly backupId: string;
  readonly meta?: LogicalBackupMeta;
  /** Keys of its objects (dump, metadata). */
  readonly keys: string[];
  /** Newest LastModified of its objects. */
  readonly lastModified?: Date;
}

export interface LogicalRetentionPlan {
  readonly keep: { dump: StoredDump; reasons: KeepReason[] }[];
  readonly remove: { dump: StoredDump; why: string }[];
}

/** `YYYYMMDDTHHMMSS` as a UTC instant. */
function idTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/.exec(id);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : new Date(0);
}

/**
 * Which dumps of ONE database to keep and remove under `spec` at `now`: the base backups' planner, each dump seen as
 * a backup (complete when its metadata exists; its time the metadata's end time). A dump without metadata younger
 * than the grace period may still be uploading and is kept.
 */
export function planLogicalRetention(dumps: readonly StoredDump[], spec: RetentionSpec, now: Date, options: PlanOptions = {}): LogicalRetentionPlan {
  const byId = new Map(dumps.map(d => [d.backupId, d]));
  const asBackups = dumps.map(
    d =>
      ({
        backupId: d.backupId,
        status: d.meta ? 'DONE' : 'STARTED',
        serverName: '',
        systemIdentifier: 'logical',
        timeline: 1,
        beginTime: d.meta ? new Date(d.meta.startTime) : idTime(d.backupId),
        endTime: d.meta ? new Date(d.meta.endTime) : undefined,
        beginWal: '',
        beginLsn: '',
        pgVersion: d.meta?.serverVersion ?? 0,
        size: d.meta?.size ?? 0,
        compression: 'none',
        lastModified: d.lastModified,
      }) satisfies BackupInfo,
  );
  const plan = planRetention(asBackups, spec, now, options);
  return {
    keep: plan.keep.map(k => ({ dump: byId.get(k.backup.backupId)!, reasons: k.reasons })),
    remove: plan.remove.map(r => ({ dump: byId.get(r.backup.backupId)!, why: r.why })),
  };
}
