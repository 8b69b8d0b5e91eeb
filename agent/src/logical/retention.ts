/** Carries out {@link planLogicalRetention} for every database folder under `logical/`: metadata first, then the dump. */
import { RetentionSpec } from '../../../lib/contract';
import { LogicalRetentionPlan, planLogicalRetention } from '../decide/logical';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { deleteObjects } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { listLogicalDumps } from './store';

export async function applyLogicalRetention(
  s3: S3Bucket,
  store: StoreConfig,
  spec: RetentionSpec,
  now: Date,
): Promise<Map<string, LogicalRetentionPlan>> {
  const plans = new Map<string, LogicalRetentionPlan>();
  for (const { database, dumps } of await listLogicalDumps(s3, store)) {
    const plan = planLogicalRetention(dumps, spec, now);
    plans.set(database, plan);
    for (const r of plan.remove) {
      // The metadata goes first: a dump whose deletion then fails is incomplete, never restored, and removed next time.
      const keys = [...r.dump.keys].sort((a, b) => Number(b.endsWith('.json')) - Number(a.endsWith('.json')));
      for (const k of keys) await deleteObjects(s3, [k]);
      log.info({ database, backupId: r.dump.backupId, why: r.why }, `logical retention: removed ${database}/${r.dump.backupId}`);
    }
    log.info(
      { database, kept: plan.keep.map(k => `${k.dump.backupId} (${k.reasons.join(', ')})`), removed: plan.remove.length },
      `logical retention: ${database} keeps ${plan.keep.length} dump(s)`,
    );
  }
  return plans;
}
