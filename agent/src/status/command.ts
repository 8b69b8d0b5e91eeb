/**
 * `pg-agent status [-o json]`, run by a person in an instance pod (`kubectl exec … -- pg-agent status`) or by the
 * laptop command `cdk8s-postgres status`: one screen about the whole cluster, gathered from what exists (the local
 * PostgreSQL, the Lease, the pods and CronJobs through the API, the backup store). Each source is read on its own,
 * with a time bound: one that fails makes its section say why, and the rest still prints. Reads only.
 */
import { ANNOTATIONS, BACKUP_ENV, names } from '../../../lib/contract';
import { renderStatus } from '../../../lib/status/render';
import { STATUS_REPORT_VERSION, StatusReport, Unavailable, isUnavailable } from '../../../lib/status/report';
import { lsnDiff } from '../postgres/wal';
import { optionalEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { readInstanceConfig } from '../instance/config';
import { connectKube } from '../k8s/client';
import { createS3Client } from '../s3/client';
import { hasStore, readRetention, readStoreConfig } from '../store/config';
import { readDrillResults } from '../verify/drill-result';
import { drillFacts, leaseFacts, nextRun, readCronJob, readPods } from './kube-facts';
import { LocalFacts, readLocalFacts } from './local-postgres';
import { StoreFacts, readStoreFacts } from './store-facts';

/** A person waits for this screen: a source that does not answer within this time is reported as such. */
const SOURCE_TIMEOUT_MS = 20_000;

async function attempt<T>(what: string, fix: string, fn: () => Promise<T>): Promise<T | Unavailable> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${SOURCE_TIMEOUT_MS / 1000} s`)), SOURCE_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    const message = (e as Error).message.split('\n')[0];
    return { unavailable: `${what}: ${message}. ${fix}` };
  } finally {
    clearTimeout(timer);
  }
}

export async function gatherStatus(env: NodeJS.ProcessEnv = process.env, now = () => Date.now()): Promise<StatusReport> {
  const cfg = readInstanceConfig(env);
  const store = hasStore(env) ? readStoreConfig(env) : undefined;
  const retention = optionalEnv(BACKUP_ENV.retention, env) ? readRetention(env) : undefined;

  const local = attempt('the local PostgreSQL', 'Is it running? The pod log (kubectl logs) says why not.', () => readLocalFacts(cfg));
  const kube = connectKube(cfg.namespace);
  const apiFix = 'Check the API server and the instance Role (kubectl auth can-i --as=system:serviceaccount:<ns>:<cluster>).';
  const pods = attempt('the pods', apiFix, async () => readPods(await kube, cfg.cluster, cfg.instances));
  const lease = attempt('the Lease', apiFix, async () => (await kube).getLease(names.lease(cfg.cluster)));
  const backupCron = store ? attempt('the backup CronJob', apiFix, () => readCronJob(cfg.namespace, names.backupCronJob(cfg.cluster))) : undefined;
  const drillCron = store
    ? attempt('the restore-drill CronJob', apiFix, () => readCronJob(cfg.namespace, names.restoreDrillCronJob(cfg.cluster)))
    : undefined;
  const storeFacts: Promise<StoreFacts | Unavailable> | undefined = store
    ? attempt(
        `the backup store s3://${store.s3.bucket} at ${store.s3.endpoint}`,
        'Check the store, its credentials and the network path to it.',
        () => readStoreFacts(store, retention),
      )
    : undefined;

  // Read on its own, so that a store that cannot be read still leaves the CronJob's view of the drill.
  const drillRecord = store
    ? attempt('the restore drill result in the store', 'Check the store and its credentials.', () =>
        readDrillResults(createS3Client({ ...store.s3, maxAttempts: 2, connectTimeoutMs: 3000 }), store),
      )
    : undefined;

  const [l, p, ls, bc, dc, sf, dr] = await Promise.all([local, pods, lease, backupCron, drillCron, storeFacts, drillRecord]);
  const at = now();
  const localFacts = isUnavailable(l) ? undefined : (l as LocalFacts);
  const leaseObj = isUnavailable(ls) ? undefined : ls;
  const leaseSection: StatusReport['lease'] = isUnavailable(ls) ? ls : leaseFacts(leaseObj, at);
  const podSection = p;
  const podList = isUnavailable(p) ? [] : p.pods;

  const holder = !isUnavailable(leaseSection) && !leaseSection.expired ? leaseSection.holder : undefined;
  const primary = holder ?? podList.find(x => x.role === 'primary')?.name ?? (localFacts?.postgres.role === 'primary' ? cfg.podName : undefined);

  let replication: StatusReport['replication'];
  if (localFacts?.replicas) {
    replication = { source: 'primary', replicas: localFacts.replicas };
  } else if (!isUnavailable(p)) {
    // Seen from a replica: the Lease carries the primary's position at its last renewal, each replica its own.
    const primaryLsn = leaseObj?.metadata?.annotations?.[ANNOTATIONS.primaryLsn];
    replication = {
      source: 'annotations',
      replicas: podList
        .filter(x => x.name !== primary)
        .map(x => ({
          name: x.name,
          state: x.receivedLsn ? 'reported' : 'unknown',
          lagBytes: primaryLsn && x.receivedLsn ? Math.max(0, lsnDiff(primaryLsn, x.receivedLsn)) : undefined,
        })),
    };
  } else replication = { unavailable: 'neither the primary nor the pods could be read' };

  const archiving: StatusReport['archiving'] = localFacts?.archiving
    ? localFacts.archiving
    : !store
      ? { unavailable: 'the cluster has no backup store (no `backup` prop): nothing is archived' }
      : isUnavailable(l)
        ? l
        : { unavailable: `only the primary knows its archiver: run this on ${primary ?? 'the primary'}` };

  let backups: StatusReport['backups'];
  let recoverable: StatusReport['recoverable'];
  if (!store || !sf) {
    backups = recoverable = { unavailable: 'the cluster has no backup store (no `backup` prop)' };
  } else if (isUnavailable(sf)) {
    backups = recoverable = sf;
  } else {
    const cron = bc && !isUnavailable(bc) ? bc : undefined;
    const schedule = cron?.spec?.schedule;
    backups = {
      ...sf.backups,
      schedule,
      suspended: cron?.spec?.suspend || undefined,
      nextTime: schedule && !cron?.spec?.suspend ? nextRun(schedule, cron?.spec?.timeZone, at) : undefined,
    };
    recoverable = sf.recoverable;
  }

  let drill: StatusReport['drill'];
  if (!store) drill = { unavailable: 'the cluster has no backup store, so no restore drill' };
  else if (dc === undefined)
    drill = { unavailable: `no RestoreDrill for this cluster (CronJob ${names.restoreDrillCronJob(cfg.cluster)} not found)` };
  else if (isUnavailable(dc)) drill = dc;
  else drill = drillFacts(dc, dr && !isUnavailable(dr) ? dr : undefined);

  return {
    version: STATUS_REPORT_VERSION,
    cluster: cfg.cluster,
    namespace: cfg.namespace,
    generatedAt: new Date(at).toISOString(),
    observedFrom: { pod: cfg.podName, role: localFacts?.postgres.role ?? 'unknown' },
    primary,
    instances: isUnavailable(podSection)
      ? podSection
      : { expected: podSection.expected, pods: podList.map(({ name, role, ready, phase }) => ({ name, role, ready, phase })) },
    lease: leaseSection,
    postgres: localFacts ? localFacts.postgres : (l as Unavailable),
    replication,
    archiving,
    backups,
    recoverable,
    drill,
  };
}

export async function statusCommand(opts: { output?: string }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const output = opts.output ?? 'text';
  if (output !== 'text' && output !== 'json') {
    throw new AgentError(`-o ${output} is not an output format`, 'Use -o json, or leave -o out for the screen.', { output });
  }
  const report = await gatherStatus(env);
  process.stdout.write(output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report));
  return 0;
}
