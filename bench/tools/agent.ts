/**
 * Our agent, run the realistic way: `pg-agent backup` is the backup CronJob's container of dist/keycloak.k8s.yaml
 * (its command, args and env, secrets resolved from the API double), with the store's endpoint and bucket mapped to
 * the bench's RGW and the source Service mapped straight to the primary's port (kube-proxy is in the kernel; the
 * tests' userspace Service proxy would add a copy of every byte). The restore is agent/src/restore's
 * restoreBaseBackup (bench/agent-restore.ts), then PostgreSQL recovers with `pg-agent wal-fetch` as restore_command.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BACKUP_ENV, ENV, Compression } from '../../lib/contract';
import { storeEnv, walFetchScript } from '../../test/support/backup';
import type { ClusterHarness } from '../../test/support/cluster-harness';
import { findObject, podSpecOf } from '../../test/support/manifests';
import { containerLaunch } from '../../test/support/pod-runner';
import { measure } from '../lib/proc';
import { BackupResult, Ctx, RestoreResult, baseEnv, restoreTarget, storedUnder, timedRestore } from './common';

export const CLUSTER = 'keycloak-pg-cluster';

export class AgentTool {
  readonly walPrefix = `${CLUSTER}/wals/`;
  private fetchScript?: string;

  constructor(
    private readonly ctx: Ctx,
    private readonly h: ClusterHarness,
    readonly bucket: string,
    private readonly restoreBundle: string,
    private readonly nodePath: string,
  ) {}

  /** The store env of the manifests pointed at the bench's RGW and bucket (for restore and wal-fetch). */
  storeEnv(): Record<string, string> {
    return storeEnv(this.ctx.ep, this.bucket, CLUSTER, { NODE_PATH: this.nodePath });
  }

  private backupLaunch(compression: Compression) {
    const cron = findObject(this.h.objects, 'CronJob', `${CLUSTER}-backup`);
    const container = podSpecOf(cron).containers[0];
    const tmp = fs.mkdtempSync(path.join(this.ctx.work, 'backup-tmp-'));
    fs.chownSync(tmp, this.ctx.user.uid, this.ctx.user.gid);
    const source = `127.0.0.1:${this.ctx.src.port}`;
    const launch = containerLaunch(cron, container.name, {
      podName: `${CLUSTER}-backup-bench`,
      namespace: this.h.namespace,
      paths: Object.fromEntries((container.volumeMounts ?? []).map((m: { mountPath: string }) => [m.mountPath, tmp])),
      secret: (name, key) => this.h.secretData(name)?.[key],
      rewriteEnv: (name, value) => {
        if (name === BACKUP_ENV.sourceHost || name === ENV.primaryHost) return source;
        if (name === BACKUP_ENV.endpoint) return this.ctx.ep.endpoint;
        if (name === BACKUP_ENV.bucket) return this.bucket;
        if (name === BACKUP_ENV.compression) return compression;
        return value;
      },
    });
    return { launch, tmp };
  }

  async backup(variant: string, compression: Compression): Promise<BackupResult> {
    const { launch, tmp } = this.backupLaunch(compression);
    try {
      const m = await measure(launch.command, launch.args, {
        env: { ...baseEnv(this.ctx, { NODE_PATH: this.nodePath }), ...launch.env },
        user: this.ctx.user,
        scratchDir: this.ctx.work,
        timeoutMs: 30 * 60_000,
      });
      const lines = (m.stdout + '\n' + m.stderr)
        .split('\n')
        .filter(l => l.startsWith('{'))
        .map(l => {
          try {
            return JSON.parse(l);
          } catch {
            return {};
          }
        });
      const done = lines.find(l => l.msg === 'backup complete (backup.info DONE)');
      if (m.code !== 0 || !done)
        throw new Error(`${variant}: pg-agent backup exited ${m.code}:\n${(m.stdout + m.stderr).split('\n').slice(-15).join('\n')}`);
      const stored = await storedUnder(this.ctx, this.bucket, `${CLUSTER}/base/${done.backupId}/`);
      return { variant, ref: done.backupId, measured: m, storedBytes: stored.bytes, storedObjects: stored.objects };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  async restore(variant: string, backupId: string): Promise<RestoreResult> {
    this.fetchScript ??= walFetchScript(this.storeEnv());
    const target = restoreTarget(this.ctx, variant);
    return timedRestore(
      this.ctx,
      variant,
      target,
      () =>
        measure(process.execPath, [this.restoreBundle, backupId, target], {
          env: baseEnv(this.ctx, this.storeEnv()),
          user: this.ctx.user,
          scratchDir: this.ctx.work,
          timeoutMs: 30 * 60_000,
        }),
      this.fetchScript,
    );
  }
}
