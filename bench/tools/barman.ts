/**
 * barman-cloud (what CloudNativePG runs) against the same database and RGW, over plain HTTP like the agent.
 * Backups: barman-cloud-backup with --immediate-checkpoint (the agent and pgBackRest checkpoint at once too;
 * CloudNativePG's default is a spread checkpoint, which only adds waiting), `gzip` or no compression (its
 * `--snappy` is broken on bookworm). WAL: barman-cloud-wal-archive --gzip, one process per segment.
 */
import * as path from 'path';
import { barmanWalRestoreScript } from '../../test/support/backup';
import { measure } from '../lib/proc';
import { BackupResult, Ctx, RestoreResult, baseEnv, q, restoreTarget, script, storedUnder, timedRestore } from './common';

export type BarmanCompression = 'gzip' | 'none';
export const BARMAN_SERVER = 'barman';

export class BarmanTool {
  readonly walPrefix = `${BARMAN_SERVER}/wals/`;
  private readonly walArchive: string;
  private restoreScript?: string;

  constructor(
    private readonly ctx: Ctx,
    readonly bucket: string,
  ) {
    this.walArchive = script(ctx, 'barman-wal-archive.sh', [
      `export AWS_ACCESS_KEY_ID=${q(ctx.ep.accessKeyId)} AWS_SECRET_ACCESS_KEY=${q(ctx.ep.secretAccessKey)}`,
      `exec barman-cloud-wal-archive --cloud-provider aws-s3 --endpoint-url ${q(ctx.ep.endpoint)} --gzip ${q(`s3://${bucket}/`)} ${BARMAN_SERVER} "$1"`,
    ]);
  }

  get archiveCommand(): string {
    return `${this.walArchive} %p`;
  }

  private env(): NodeJS.ProcessEnv {
    return baseEnv(this.ctx, {
      PGPASSWORD: this.ctx.src.superuserPassword,
      AWS_ACCESS_KEY_ID: this.ctx.ep.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.ctx.ep.secretAccessKey,
    });
  }

  private async backupIds(): Promise<Set<string>> {
    const stored = await storedUnder(this.ctx, this.bucket, `${BARMAN_SERVER}/base/`);
    return new Set(stored.keys.map(k => k.split('/')[2]));
  }

  async backup(variant: string, compression: BarmanCompression): Promise<BackupResult> {
    const before = await this.backupIds();
    const m = await measure(
      'barman-cloud-backup',
      [
        '--cloud-provider',
        'aws-s3',
        '--endpoint-url',
        this.ctx.ep.endpoint,
        ...(compression === 'gzip' ? ['--gzip'] : []),
        '--immediate-checkpoint',
        '-h',
        '127.0.0.1',
        '-p',
        String(this.ctx.src.port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        `s3://${this.bucket}/`,
        BARMAN_SERVER,
      ],
      { env: this.env(), user: this.ctx.user, scratchDir: this.ctx.work, timeoutMs: 30 * 60_000 },
    );
    if (m.code !== 0) throw new Error(`${variant}: barman-cloud-backup exited ${m.code}:\n${m.stderr.slice(-3000)}${m.stdout.slice(-1000)}`);
    const added = [...(await this.backupIds())].filter(id => !before.has(id));
    if (added.length !== 1) throw new Error(`${variant}: expected one new backup folder, found ${added.join(', ') || 'none'}`);
    const stored = await storedUnder(this.ctx, this.bucket, `${BARMAN_SERVER}/base/${added[0]}/`);
    return { variant, ref: added[0], measured: m, storedBytes: stored.bytes, storedObjects: stored.objects };
  }

  async restore(variant: string, backupId: string): Promise<RestoreResult> {
    this.restoreScript ??= barmanWalRestoreScript(this.ctx.ep, this.bucket, BARMAN_SERVER);
    const target = restoreTarget(this.ctx, variant);
    return timedRestore(
      this.ctx,
      variant,
      target,
      () =>
        measure(
          'barman-cloud-restore',
          ['--cloud-provider', 'aws-s3', '--endpoint-url', this.ctx.ep.endpoint, `s3://${this.bucket}/`, BARMAN_SERVER, backupId, target],
          {
            env: this.env(),
            user: this.ctx.user,
            scratchDir: this.ctx.work,
            cwd: path.dirname(target),
            timeoutMs: 30 * 60_000,
          },
        ),
      this.restoreScript,
    );
  }
}
