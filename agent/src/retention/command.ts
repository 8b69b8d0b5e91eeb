/**
 * `pg-agent retention [--dry-run] [--json] [--grace 24h]`: applies the cluster's retention policy (PGC_RETENTION)
 * to its folder in the store. The plan goes to the log (stderr, one line per backup); the report goes to stdout,
 * as a table or, with --json, as one JSON document ({@link RetentionReport}).
 */
import { AgentError } from '../common/errors';
import { createS3Client } from '../s3/client';
import { readRetention, readStoreConfig } from '../store/config';
import { applyRetention, type RetentionReport } from './apply';
import { formatBytes } from '../common/format';
import { DEFAULT_GRACE_MS } from './plan';

export interface RetentionCommandOptions {
  readonly dryRun?: boolean;
  readonly json?: boolean;
  /** `90m`, `36h`, `2d`. */
  readonly grace?: string;
}

export async function retentionCommand(opts: RetentionCommandOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const store = readStoreConfig(env);
  const spec = readRetention(env);
  const graceMs = opts.grace === undefined ? DEFAULT_GRACE_MS : parseGrace(opts.grace);
  const s3 = createS3Client(store.s3);
  try {
    const report = await applyRetention(s3, store, spec, { dryRun: opts.dryRun ?? false, graceMs });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  } finally {
    s3.destroy();
  }
}

function parseGrace(raw: string): number {
  const m = /^([1-9][0-9]*)(m|h|d)$/.exec(raw);
  if (!m) throw new AgentError(`--grace "${raw}" is not a duration`, 'Give minutes, hours or days, e.g. --grace 36h.', { grace: raw });
  return Number(m[1]) * { m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

function formatReport(r: RetentionReport): string {
  const lines = r.backups.map(b => {
    const when = b.endTime ? `ended ${b.endTime}` : `began ${b.beginTime}`;
    return `${b.action === 'keep' ? 'keep  ' : 'remove'}  ${b.backupId}  ${b.status.padEnd(7)} ${when}  ${formatBytes(b.bytes).padStart(10)}  ${b.action === 'keep' ? b.reasons!.join(', ') : b.why}`;
  });
  const verb = r.dryRun ? 'would remove' : 'removed';
  lines.push(
    `WAL: ${r.wal.objects} files (${formatBytes(r.wal.bytes)}); ${r.wal.boundary ? `kept from ${r.wal.boundary} (${r.wal.boundaryWhy})` : r.wal.boundaryWhy}`,
    `${r.dryRun ? 'dry run: ' : ''}kept ${r.kept} backups; ${verb} ${r.removed} backups and ${r.wal.removed} WAL files: ${r.objectsRemoved} objects, ${formatBytes(r.bytesFreed)}`,
  );
  return `${lines.join('\n')}\n`;
}
