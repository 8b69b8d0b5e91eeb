/**
 * pg_restore with progress, shared by `restore-database` (one custom-format dump) and `bootstrap.import` (a
 * directory-format dump, in parallel): the items of the archive's table of contents, counted as pg_restore -v
 * reports them, logged every few seconds.
 */
import { spawn } from 'child_process';
import { execTool } from '../common/exec';
import { log } from '../common/log';
import { withoutSecrets } from '../common/secret-env';

export interface PgRestoreRun {
  /** The dump (file or directory). */
  archive: string;
  database: string;
  /** Every object created belongs to this role (`--no-owner --role=<owner>`). */
  owner: string;
  /** libpq variables of the target (host, port, user, passfile). */
  env: NodeJS.ProcessEnv;
  /** Progress line prefix, e.g. `restore-database` or `import`. */
  label: string;
  jobs?: number;
  /** A filtered table of contents (`pg_restore -L`). */
  listFile?: string;
  /** Extra pg_restore options (e.g. `--no-privileges`). */
  extraArgs?: string[];
  progressMs?: number;
}

export interface PgRestoreOutcome {
  code: number;
  items: number;
  done: number;
  /** pg_restore's error lines (else its last lines), for the error message. */
  errors: string;
}

/** The table of contents of a dump (`pg_restore -l`). */
export async function tableOfContents(archive: string): Promise<string> {
  return (await execTool('pg_restore', ['-l', archive], { fix: 'The dump is not a pg_dump custom- or directory-format archive.' })).stdout;
}

export async function runPgRestore(r: PgRestoreRun): Promise<PgRestoreOutcome> {
  const toc = await tableOfContents(r.archive);
  const items = toc.split('\n').filter(l => /^\d+;/.test(l)).length;
  const args = [
    '--verbose',
    '--exit-on-error',
    '--no-owner',
    `--role=${r.owner}`,
    '--no-password',
    ...(r.jobs && r.jobs > 1 ? ['-j', String(r.jobs)] : []),
    ...(r.listFile ? ['-L', r.listFile] : []),
    ...(r.extraArgs ?? []),
    '-d',
    r.database,
    r.archive,
  ];
  const child = spawn('pg_restore', args, { env: { ...withoutSecrets(process.env), ...r.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let done = 0;
  let tail: string[] = [];
  const errors: string[] = [];
  let lastLog = Date.now();
  let buf = '';
  child.stderr.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      if (/^pg_restore: (creating|processing|restoring|executing)/.test(l)) done++;
      if (/error|FATAL/i.test(l)) errors.push(l);
      tail = [...tail, l].slice(-5);
    }
    if (Date.now() - lastLog > (r.progressMs ?? 5000)) {
      lastLog = Date.now();
      log.info({ database: r.database, items: done, of: items }, `${r.label}: ${done} of about ${items} items restored`);
    }
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', c => resolve(c ?? 1));
  });
  return { code, items, done, errors: errors.slice(0, 5).join(' | ') || tail.join(' | ') };
}
