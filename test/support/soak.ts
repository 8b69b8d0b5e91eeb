/**
 * The random-kill soak of the safety issue: a 2-instance cluster with backups (processes, the API double, real
 * RGW), a writer on -rw, and every 30-60 s a whole pod killed (kill -9 of every process, restarted a few seconds
 * later as the kubelet would) or frozen (every process stopped, as a stalled node, for up to twice the lease).
 * At the end: every acknowledged row on -rw, never two writable primaries, one initdb ever, no rejoin that wiped
 * data, and a restore of the oldest backup to the end of the archive that holds every acknowledged row.
 * Used by test/agent/soak.e2e.test.ts (short) and bench/soak.ts (5 minutes and more).
 */
import * as os from 'os';
import { storeEnvRewrite } from './backup';
import { ClusterHarness, query, sleep } from './cluster-harness';
import { leaseOf, lostRows, watchWritable, writer } from './failover-probes';
import { KubeObject } from './manifests';
import { STORE_SECRET, synthWithStore } from './synth';
import { PodProcesses } from './pod-cgroup';
import { restoreOldestToLatest } from './restore-latest';
import { S3Endpoint, createBucket, deleteBucketRecursive, uniqueBucketName } from './s3';

export interface SoakOptions {
  ep: S3Endpoint;
  durationMs: number;
  /** Pause between faults, drawn uniformly. */
  faultEveryMs: [number, number];
  seed?: number;
  log?: (line: string) => void;
  /**
   * The cluster's replication. `required` (the default here) is the mode that promises no acknowledged row is ever
   * lost; with `async` or `preferred` a failover may lose the newest commits by design (README), e.g. a commit acknowledged
   * by a primary just thawed from SIGSTOP after the replica took over. The bench measures those too.
   */
  synchronous?: 'async' | 'preferred' | 'required';
}

export interface SoakFigures {
  seconds: number;
  synchronous: string;
  /** For each lost row: when it was acknowledged (s since start) and the last fault before it. */
  lostContext: string[];
  mechanism: string;
  faults: Array<{ at: number; kind: 'kill' | 'freeze'; pod: string; role: string; ms: number }>;
  acknowledged: number;
  lostLive: number[];
  lostInRestore: number[];
  restoredFrom: string;
  restoreSeconds: number;
  restoredTimeline: number;
  splitBrainSamples: number;
  samples: number;
  longestWriteGapMs: number;
  leaseTransitions: number;
  initdbs: number;
  rejoinsRewound: number;
  rejoinsCloned: number;
  wipesWithoutClone: number;
  safetyWaits: string[];
  loadAverage: number[];
}

const CLUSTER = 'soak-pg';

function synthSoakCluster(synchronous: NonNullable<SoakOptions['synchronous']>): KubeObject[] {
  return synthWithStore(CLUSTER, { synchronous: synchronous === 'async' ? undefined : { number: 1, dataDurability: synchronous } });
}

/** A small deterministic PRNG (mulberry32), so a soak can be replayed with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runSoak(o: SoakOptions): Promise<SoakFigures> {
  const say = o.log ?? (() => undefined);
  const rnd = random(o.seed ?? Date.now());
  const between = (lo: number, hi: number) => Math.round(lo + rnd() * (hi - lo));
  const bucket = uniqueBucketName('soak');
  await createBucket(bucket);
  const synchronous = o.synchronous ?? 'required';
  const h = new ClusterHarness(synthSoakCluster(synchronous), CLUSTER);
  const started = Date.now();
  try {
    await h.start();
    h.seedSecret(STORE_SECRET, { AccessKey: o.ep.accessKeyId, SecretKey: o.ep.secretAccessKey });
    h.rewriteEnv = storeEnvRewrite(o.ep.endpoint, bucket);
    const secrets = await h.runSecretsJob();
    if ((await secrets.exited) !== 0) throw new Error(`secrets Job failed:\n${secrets.lines.join('\n')}`);
    for (const i of [0, 1]) {
      h.startInstance(i);
      await h.waitReady(i, 120000);
    }
    const su = h.secretData(`${CLUSTER}-superuser`)!.password;
    const rw = () => h.connectionFromUri(h.secretData(`${CLUSTER}-app`)!.uri);
    await query(rw(), 'CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz DEFAULT now())');
    const backup = await h.runJob(`${CLUSTER}-backup`);
    if ((await backup.exited) !== 0) throw new Error(`base backup failed:\n${backup.lines.slice(-15).join('\n')}`);
    say('cluster up, base backup taken; faults begin');

    const w = writer(rw);
    const watch = watchWritable(h, su, 'app', 250);
    const faults: SoakFigures['faults'] = [];
    const end = started + o.durationMs;
    while (Date.now() + o.faultEveryMs[0] < end) {
      await sleep(between(...o.faultEveryMs));
      const pod = h.pods[between(0, 1)];
      const role = h.podLabels(pod.name)['postgres.cdk8s.io/role'] ?? 'none';
      const kind = rnd() < 0.6 ? 'kill' : 'freeze';
      const at = Math.round((Date.now() - started) / 1000);
      if (kind === 'kill') {
        const down = between(1000, 8000);
        say(`${at}s kill -9 of pod ${pod.name} (${role}), back in ${down} ms`);
        pod.process!.killPod();
        await pod.process!.waitPodGone();
        await sleep(down);
        h.startInstance(pod.ordinal);
        faults.push({ at, kind, pod: pod.name, role, ms: down });
      } else {
        const frozen = between(3000, 30000);
        say(`${at}s SIGSTOP of pod ${pod.name} (${role}) for ${frozen} ms`);
        pod.process!.freezePod();
        await sleep(frozen);
        pod.process!.thawPod();
        faults.push({ at, kind, pod: pod.name, role, ms: frozen });
      }
    }
    say('faults over; waiting for both instances to be ready');
    for (const i of [0, 1]) await h.waitReady(i, 240000);
    await sleep(3000);
    await w.stop();
    await watch.stop();
    const lostLive = await lostRows(rw(), w.acknowledged);

    // The last segment of the newest timeline reaches the archive before the restore reads it.
    const primary = h.pods.find(p => h.podLabels(p.name)['postgres.cdk8s.io/role'] === 'primary')!;
    const direct = h.direct(primary.ordinal, 'postgres', su, 'postgres');
    const [{ w: lastWal }] = await query(direct, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, pg_switch_wal()');
    const deadline = Date.now() + 120000;
    for (;;) {
      const [a] = await query(direct, 'SELECT last_archived_wal AS l FROM pg_stat_archiver');
      if (a.l && a.l >= lastWal) break;
      if (Date.now() > deadline) throw new Error(`the primary did not archive ${lastWal} within 2 minutes (last ${a.l})`);
      await sleep(500);
    }
    const restored = await restoreOldestToLatest({ ep: o.ep, bucket, serverName: CLUSTER, superuserPassword: su, database: 'app' });
    const lostInRestore = w.acknowledged.filter(id => !restored.ids.has(id));

    const logs = h.processes.flatMap(p => p.logs());
    const lostContext = [...new Set([...lostLive, ...lostInRestore])].map(id => {
      const at = (w.ackedAt[w.acknowledged.indexOf(id)] - started) / 1000;
      const before = faults.filter(f => f.at <= at).pop();
      return `${id} acknowledged at ${at.toFixed(1)} s${before ? `, after the ${before.kind} of ${before.pod} (${before.role}) at ${before.at} s` : ''}`;
    });
    return {
      seconds: Math.round((Date.now() - started) / 1000),
      synchronous,
      lostContext,
      mechanism: PodProcesses.mechanism(),
      faults,
      acknowledged: w.acknowledged.length,
      lostLive,
      lostInRestore,
      restoredFrom: restored.backupId,
      restoreSeconds: restored.seconds,
      restoredTimeline: restored.timeline,
      splitBrainSamples: watch.splitBrain().length,
      samples: watch.samples.length,
      longestWriteGapMs: w.longestGapMs(),
      leaseTransitions: leaseOf(h).transitions,
      initdbs: logs.filter(l => /^initializing a new cluster/.test(l.msg ?? '')).length,
      rejoinsRewound: logs.filter(l => /rewound the former primary/.test(l.msg ?? '')).length,
      rejoinsCloned: logs.filter(l => /replaced the data directory with a complete clone/.test(l.msg ?? '')).length,
      wipesWithoutClone: logs.filter(l => /replacing this instance's data with a fresh clone/.test(l.msg ?? '')).length,
      safetyWaits: logs.filter(l => l.invariant).map(l => `${l.invariant}: ${l.msg}`),
      loadAverage: os.loadavg().map(x => Math.round(x * 100) / 100),
    };
  } finally {
    await h.stop();
    await deleteBucketRecursive(bucket).catch(() => undefined);
  }
}

export function printSoak(f: SoakFigures): string {
  const by = (k: 'kill' | 'freeze', role: string) => f.faults.filter(x => x.kind === k && x.role === role).length;
  return [
    `[soak] ${f.seconds} s, ${f.faults.length} faults (kill -9: ${by('kill', 'primary')} primary / ${by('kill', 'replica')} replica / ${by('kill', 'none')} unlabelled; ` +
      `SIGSTOP: ${by('freeze', 'primary')} primary / ${by('freeze', 'replica')} replica / ${by('freeze', 'none')} unlabelled), whole pods by ${f.mechanism}`,
    `[soak] replication ${f.synchronous}; rows acknowledged ${f.acknowledged}; lost on -rw ${f.lostLive.length}; lost in the restore of ${f.restoredFrom} to latest (timeline ${f.restoredTimeline}, ${f.restoreSeconds.toFixed(1)} s) ${f.lostInRestore.length}`,
    ...f.lostContext.map(l => `[soak] lost: ${l}`),
    `[soak] writable primaries at once: ${f.splitBrainSamples} of ${f.samples} samples; longest write gap ${(f.longestWriteGapMs / 1000).toFixed(1)} s; lease transitions ${f.leaseTransitions}`,
    `[soak] initdb ${f.initdbs}; rejoins: ${f.rejoinsRewound} rewound, ${f.rejoinsCloned} cloned aside, ${f.wipesWithoutClone} wiped; safety waits ${f.safetyWaits.length}${f.safetyWaits.length ? `: ${[...new Set(f.safetyWaits)].join(' | ')}` : ''}`,
    `[soak] load average ${f.loadAverage.join(' ')}`,
  ].join('\n');
}
