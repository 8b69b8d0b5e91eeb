/**
 * How a restore drill's result reaches Prometheus. The drill is a CronJob whose pod lives minutes and is not
 * scraped, and its Events expire after an hour; so every `pg-agent verify` run writes its result next to the
 * archive, `<server>/restore-drill.json` (the only object verify writes; barman-cloud ignores it, as it ignores
 * `identity.json`), and the primary's agent reads it with the backup listing once a minute and exports it
 * (`pgc_restore_drill_*`, docs/monitoring.md). The object keeps the last success and the last failure, so the
 * alert compares two timestamps the way the archiving alert does.
 */
import { s3Layout } from '../../../lib/contract';
import { S3Bucket } from '../s3/client';
import { getObjectBuffer, putObject } from '../s3/objects';
import { StoreConfig } from '../store/config';

export interface DrillRun {
  /** Unix seconds when the run ended. */
  time: number;
  /** The backup drilled; '' when the run failed before choosing one. */
  backupId: string;
  /** What succeeded, or what failed and why. */
  detail: string;
}

export interface DrillResults {
  lastSucceeded?: DrillRun;
  lastFailed?: DrillRun;
}

export function drillResultKey(store: StoreConfig): string {
  return `${s3Layout.serverRoot(store.prefix, store.serverName)}restore-drill.json`;
}

/** The recorded results, or undefined when no drill ran yet (or the object is not ours to read). */
export async function readDrillResults(s3: S3Bucket, store: StoreConfig): Promise<DrillResults | undefined> {
  const body = await getObjectBuffer(s3, drillResultKey(store));
  if (!body) return undefined;
  const parsed = JSON.parse(body.toString('utf8')) as DrillResults;
  const run = (r: DrillRun | undefined) => (r && Number.isFinite(r.time) ? r : undefined);
  return { lastSucceeded: run(parsed.lastSucceeded), lastFailed: run(parsed.lastFailed) };
}

/** Records one run, keeping the other outcome's last run (one drill runs at a time: the CronJob forbids overlap). */
export async function recordDrillResult(s3: S3Bucket, store: StoreConfig, ok: boolean, run: DrillRun): Promise<DrillResults> {
  const previous = await readDrillResults(s3, store).catch(() => undefined);
  const results: DrillResults = ok ? { ...previous, lastSucceeded: run } : { ...previous, lastFailed: run };
  await putObject(s3, drillResultKey(store), Buffer.from(JSON.stringify(results, null, 2) + '\n'), { contentType: 'application/json' });
  return results;
}
