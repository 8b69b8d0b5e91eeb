/**
 * A 2-instance cluster with backups run by the StatefulSet controller simulation, a writer on -rw, and the figures
 * of a day-2 change made under it: longest write gap, rows acknowledged and lost, switchovers, lease-expiry
 * failovers, the controller's story. Used by test/agent/rollout.e2e.test.ts and bench/rollout.ts.
 */
import * as os from 'os';
import { LABELS } from '../../lib/contract';
import { PostgresClusterProps } from '../../lib';
import { storeEnvRewrite } from './backup';
import { ClusterHarness, query, sleep } from './cluster-harness';
import { leaseOf, lostRows, writer } from './failover-probes';
import { KubeObject } from './manifests';
import { S3Endpoint, createBucket, deleteBucketRecursive, uniqueBucketName } from './s3';
import { StatefulSetController } from './statefulset-controller';
import { STORE_SECRET, synthWithStore } from './synth';

export interface ChangeFigures {
  label: string;
  gapMs: number;
  acknowledged: number;
  lost: number;
  switchovers: number;
  expiryFailovers: number;
  leaseTransitions: number;
  /** The controller's events during the change, e.g. `12.3s roll-1 deleting`. */
  story: string;
  loadAverage: number;
}

export class RolloutDrill {
  readonly h: ClusterHarness;
  readonly ctl: StatefulSetController;
  private readonly bucket = uniqueBucketName('rollout');

  /** `mutate` changes the synthesized objects (e.g. the StatefulSet's updateStrategy) before the cluster starts. */
  constructor(
    readonly cluster: string,
    props: Partial<PostgresClusterProps> = {},
    mutate?: (objects: KubeObject[]) => void,
  ) {
    const objects = synthWithStore(cluster, props);
    mutate?.(objects);
    this.h = new ClusterHarness(objects, cluster);
    this.ctl = new StatefulSetController(this.h);
  }

  rw = () => this.h.connectionFromUri(this.h.secretData(`${this.cluster}-app`)!.uri);
  role = (pod: string) => this.h.podLabels(pod)[LABELS.role];
  primaryOrdinal = () => this.h.pods.findIndex(p => this.role(p.name) === 'primary');

  async start(ep: S3Endpoint): Promise<void> {
    await createBucket(this.bucket);
    await this.h.start();
    this.h.seedSecret(STORE_SECRET, { AccessKey: ep.accessKeyId, SecretKey: ep.secretAccessKey });
    this.h.rewriteEnv = storeEnvRewrite(ep.endpoint, this.bucket);
    const secrets = await this.h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
    this.ctl.start();
    for (const p of this.h.pods) await this.h.waitReady(p.ordinal, 120000);
    await query(this.rw(), 'CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
  }

  async stop(): Promise<void> {
    this.ctl.stop();
    await this.h.stop();
    await deleteBucketRecursive(this.bucket).catch(() => undefined);
  }

  /** Promotions since `since` (log lines of every agent process), by reason. */
  private promotions(since: number) {
    const lines = this.h.processes.flatMap(p => p.logs()).filter(l => Date.parse(l.time) >= since);
    return {
      byExpiry: lines.filter(l => /^failover: this replica holds the primary lease/.test(l.msg ?? '')).length,
      planned: lines.filter(l => /^switchover: this replica holds the primary lease/.test(l.msg ?? '')).length,
    };
  }

  /** Runs `change` under a writer (2 s before and after) and returns its figures. */
  async underLoad(label: string, change: () => Promise<void>): Promise<ChangeFigures> {
    const since = Date.now();
    const transitions = leaseOf(this.h).transitions;
    const eventsBefore = this.ctl.events.length;
    const w = writer(this.rw);
    await sleep(2000);
    await change();
    await sleep(2000);
    await w.stop();
    const lost = await lostRows(this.rw(), w.acknowledged);
    const p = this.promotions(since);
    if (process.env.PGC_DEBUG) {
      // Every agent's lines during the change, in time order (postgres's marked [pg]), to see where a gap went.
      const lines = this.h.processes.flatMap(pr => {
        const pod = pr.logs().find(x => x.pod)?.pod ?? '?';
        return pr
          .logs()
          .filter(x => Date.parse(x.time) >= since)
          .map(x => `${x.time} ${pod} ${x.source === 'postgres' ? '[pg] ' : ''}${x.msg}`);
      });
      console.log(lines.sort().join('\n')); // eslint-disable-line no-console
    }
    return {
      label,
      gapMs: w.longestGapMs(),
      acknowledged: w.acknowledged.length,
      lost: lost.length,
      leaseTransitions: leaseOf(this.h).transitions - transitions,
      expiryFailovers: p.byExpiry,
      switchovers: p.planned,
      story: this.ctl.events
        .slice(eventsBefore)
        .map(e => `${(e.at / 1000).toFixed(1)}s ${e.pod} ${e.what}`)
        .join('; '),
      loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
    };
  }

  /** `kubectl rollout restart` and the wait until every pod runs the new revision; the ordinals in replacement order. */
  async templateChange(timeoutMs = 240000): Promise<number[]> {
    const from = this.ctl.events.length;
    this.ctl.rolloutRestart();
    await this.ctl.waitRolledOut(timeoutMs);
    return this.ctl.events
      .slice(from)
      .filter(e => e.what === 'deleting')
      .map(e => Number(e.pod.slice(e.pod.lastIndexOf('-') + 1)));
  }

  /** Moves the primary to `ordinal` with `pg-agent switchover` (no-op when it is there). */
  async primaryTo(ordinal: number): Promise<void> {
    const now = this.primaryOrdinal();
    if (now === ordinal) return;
    const sw = await this.h.execInPod(now, ['switchover', '--to', this.h.pods[ordinal].name]);
    if ((await sw.exited) !== 0) throw new Error(`switchover to ${ordinal} failed:\n${sw.lines.slice(-10).join('\n')}`);
    await this.h.waitReady(now, 120000);
  }
}

export function printChange(f: ChangeFigures): string {
  return (
    `[rollout] ${f.label}: longest write gap ${(f.gapMs / 1000).toFixed(2)} s, ${f.acknowledged} rows acknowledged, lost ${f.lost}, ` +
    `switchovers ${f.switchovers}, lease-expiry failovers ${f.expiryFailovers}, lease transitions ${f.leaseTransitions}, load ${f.loadAverage}\n  controller: ${f.story}`
  );
}
