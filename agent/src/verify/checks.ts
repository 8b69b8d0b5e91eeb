/** The checks a restored copy must pass: pg_amcheck over every database, and plausible row counts. */
import { SUPERUSER, VerifyTableCheck } from '../../../lib/contract';
import { execTool } from '../common/exec';
import { withClient } from '../instance/sql';
import { ScratchServer, scratchConnection } from './scratch-server';

export interface AmcheckResult {
  ok: boolean;
  seconds: number;
  /** pg_amcheck's findings (corruption reports or the error), empty when clean. */
  findings: string[];
}

/**
 * pg_amcheck checks every table's heap and every B-tree index of all databases (installing the amcheck extension
 * in the scratch copy where missing). Exit 0 = clean; 2 = corruption found; anything else = could not check.
 */
export async function runAmcheck(server: ScratchServer): Promise<AmcheckResult> {
  const started = Date.now();
  const args = [
    '-h',
    server.socketDir,
    '-p',
    String(server.port),
    '-U',
    SUPERUSER,
    '--all',
    '--install-missing',
    '--heapallindexed',
    '--no-password',
  ];
  try {
    await execTool('pg_amcheck', args, { fix: 'See the findings in the report.' });
    return { ok: true, seconds: (Date.now() - started) / 1000, findings: [] };
  } catch (e) {
    return { ok: false, seconds: (Date.now() - started) / 1000, findings: [(e as Error).message] };
  }
}

export interface TableResult extends VerifyTableCheck {
  rows?: number;
  ok: boolean;
  error?: string;
}

export async function countTables(server: ScratchServer, tables: VerifyTableCheck[]): Promise<TableResult[]> {
  const out: TableResult[] = [];
  for (const t of tables) {
    try {
      const rows = await withClient(scratchConnection(server, t.database), async c => {
        const ident = t.table
          .split('.')
          .map(p => c.escapeIdentifier(p))
          .join('.');
        return Number((await c.query(`SELECT count(*) AS n FROM ${ident}`)).rows[0].n);
      });
      out.push({ ...t, rows, ok: rows >= t.minRows });
    } catch (e) {
      out.push({ ...t, ok: false, error: (e as Error).message });
    }
  }
  return out;
}
