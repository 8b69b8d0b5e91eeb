/**
 * pgBackRest against the same database and the same RGW. It wants TLS S3 with a certificate for the host name
 * (`localhost`, the RGW's TLS port, its CA), and an archive_command that contains "pgbackrest". One configuration
 * (and one repository, in its own folder of the bucket) per variant:
 * - `gz`: pgBackRest's defaults (compress-type gz, level 6, no bundling);
 * - `zst`: the fastest sensible setup (compress-type zst level 3, repo-bundle=y).
 * Both with process-max=2 (the machine's cores), start-fast=y (immediate checkpoint, as the agent does) and
 * asynchronous archive-push, as a tuned production setup would have.
 */
import * as fs from 'fs';
import * as path from 'path';
import { measure, run } from '../lib/proc';
import { BackupResult, Ctx, RestoreResult, baseEnv, restoreTarget, storedUnder, timedRestore } from './common';

export type PgBackRestVariant = 'gz' | 'zst';
const STANZA = 'bench';

export class PgBackRestTool {
  readonly conf: string;
  readonly dir: string;
  readonly walPrefix: string;

  constructor(
    private readonly ctx: Ctx,
    readonly bucket: string,
    readonly variant: PgBackRestVariant,
  ) {
    this.dir = path.join(ctx.work, `pgbackrest-${variant}`);
    this.conf = path.join(this.dir, 'pgbackrest.conf');
    this.walPrefix = `${variant}/archive/${STANZA}/`;
  }

  get archiveCommand(): string {
    return `pgbackrest --config=${this.conf} --stanza=${STANZA} archive-push %p`;
  }

  /** Options that describe this setup, for the report. */
  get options(): string {
    return this.variant === 'gz'
      ? 'compress-type=gz (default, level 6), no bundle, process-max=2, start-fast, archive-async'
      : 'compress-type=zst (level 3), repo-bundle=y, process-max=2, start-fast, archive-async';
  }

  private env(): NodeJS.ProcessEnv {
    return baseEnv(this.ctx, { PGPASSWORD: this.ctx.src.superuserPassword });
  }

  async setup(): Promise<void> {
    const { ctx } = this;
    for (const d of ['', 'log', 'lock', 'spool']) {
      fs.mkdirSync(path.join(this.dir, d), { recursive: true, mode: 0o700 });
      fs.chownSync(path.join(this.dir, d), ctx.user.uid, ctx.user.gid);
    }
    const port = new URL(ctx.ep.httpsEndpoint).port;
    const lines = [
      '[global]',
      'repo1-type=s3',
      `repo1-path=/${this.variant}`,
      `repo1-s3-bucket=${this.bucket}`,
      'repo1-s3-endpoint=localhost',
      `repo1-storage-port=${port}`,
      `repo1-storage-ca-file=${ctx.caFile}`,
      `repo1-s3-region=${ctx.ep.region}`,
      `repo1-s3-key=${ctx.ep.accessKeyId}`,
      `repo1-s3-key-secret=${ctx.ep.secretAccessKey}`,
      'repo1-s3-uri-style=path',
      'repo1-retention-full=9999',
      ...(this.variant === 'zst' ? ['repo1-bundle=y', 'compress-type=zst'] : []),
      'process-max=2',
      'start-fast=y',
      'archive-async=y',
      `spool-path=${path.join(this.dir, 'spool')}`,
      `lock-path=${path.join(this.dir, 'lock')}`,
      `log-path=${path.join(this.dir, 'log')}`,
      'log-level-console=warn',
      'log-level-stderr=warn',
      '',
      `[${STANZA}]`,
      `pg1-path=${ctx.src.pgdata}`,
      `pg1-port=${ctx.src.port}`,
      `pg1-socket-path=${ctx.src.socketDir}`,
      'pg1-user=postgres',
      '',
    ];
    fs.writeFileSync(this.conf, lines.join('\n'), { mode: 0o600 });
    fs.chownSync(this.conf, ctx.user.uid, ctx.user.gid);
    await run('pgbackrest', [`--config=${this.conf}`, `--stanza=${STANZA}`, 'stanza-create'], { env: this.env(), user: ctx.user, cwd: this.dir });
  }

  async backup(variant: string): Promise<BackupResult> {
    const m = await measure('pgbackrest', [`--config=${this.conf}`, `--stanza=${STANZA}`, '--type=full', 'backup'], {
      env: this.env(),
      user: this.ctx.user,
      scratchDir: this.ctx.work,
      cwd: this.dir,
      timeoutMs: 30 * 60_000,
    });
    if (m.code !== 0) throw new Error(`${variant}: pgbackrest backup exited ${m.code}:\n${m.stderr.slice(-3000)}${m.stdout.slice(-1000)}`);
    const info = JSON.parse(
      await run('pgbackrest', [`--config=${this.conf}`, `--stanza=${STANZA}`, '--output=json', 'info'], {
        env: this.env(),
        user: this.ctx.user,
        cwd: this.dir,
      }),
    );
    const backups = info[0].backup as Array<{ label: string }>;
    const label = backups[backups.length - 1].label;
    const stored = await storedUnder(this.ctx, this.bucket, `${this.variant}/backup/${STANZA}/${label}/`);
    return { variant, ref: label, measured: m, storedBytes: stored.bytes, storedObjects: stored.objects };
  }

  async restore(variant: string, label: string): Promise<RestoreResult> {
    const target = restoreTarget(this.ctx, variant);
    return timedRestore(
      this.ctx,
      variant,
      target,
      () =>
        measure(
          'pgbackrest',
          [`--config=${this.conf}`, `--stanza=${STANZA}`, `--pg1-path=${target}`, `--set=${label}`, '--archive-mode=off', 'restore'],
          {
            env: this.env(),
            user: this.ctx.user,
            scratchDir: this.ctx.work,
            cwd: this.dir,
            timeoutMs: 30 * 60_000,
          },
        ),
      // pgBackRest writes its own restore_command into postgresql.auto.conf, which wins; this one is the same.
      `pgbackrest --config=${this.conf} --stanza=${STANZA} --pg1-path=${target} archive-get`,
    );
  }

  /** pgBackRest's background archive-push (async) processes still running. */
  static busyProcesses(): number {
    let n = 0;
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
        if (cmd.startsWith('pgbackrest') && cmd.includes('archive-push')) n++;
      } catch {
        /* gone */
      }
    }
    return n;
  }
}
