/**
 * What `pg-agent status` reads through the Kubernetes API with the instance's ServiceAccount: the instance count
 * (the StatefulSet), each pod's role label, readiness and published WAL position, the Lease, and the backup and
 * restore-drill CronJobs (their schedule and the controller's record of the last runs).
 */
import type { V1CronJob, V1Lease, V1Pod } from '@kubernetes/client-node';
import { CronExpressionParser } from 'cron-parser';
import { ANNOTATIONS, LABELS, names } from '../../../lib/contract';
import type { PodStatus, StatusReport } from '../../../lib/status/report';
import { KubeClient, KubeError } from '../k8s/client';
import type { DrillResults } from '../verify/drill-result';

export interface PodFacts extends PodStatus {
  /** The WAL position the pod last published (replicas), and when. */
  receivedLsn?: string;
  reportedAt?: string;
}

export function podFacts(name: string, pod: V1Pod | undefined): PodFacts {
  if (!pod) return { name, ready: false, phase: 'missing' };
  const [lsn, at] = (pod.metadata?.annotations?.[ANNOTATIONS.receivedLsn] ?? '').split('@');
  return {
    name,
    role: pod.metadata?.labels?.[LABELS.role],
    ready: pod.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') ?? false,
    phase: pod.status?.phase ?? 'Unknown',
    receivedLsn: lsn || undefined,
    reportedAt: at || undefined,
  };
}

export function leaseFacts(lease: V1Lease | undefined, now: number): Exclude<StatusReport['lease'], { unavailable: string }> {
  const spec = lease?.spec;
  if (!spec?.holderIdentity) return { expired: true };
  const renew = spec.renewTime ? new Date(spec.renewTime as unknown as string | Date).getTime() : undefined;
  const age = renew === undefined ? undefined : Math.max(0, (now - renew) / 1000);
  return {
    holder: spec.holderIdentity,
    renewTime: renew === undefined ? undefined : new Date(renew).toISOString(),
    renewAgeSeconds: age === undefined ? undefined : Number(age.toFixed(1)),
    durationSeconds: spec.leaseDurationSeconds,
    expired: age === undefined || (spec.leaseDurationSeconds !== undefined && age > spec.leaseDurationSeconds),
  };
}

/** The next run of a CronJob's schedule after `now`, in its time zone (UTC by default, as the constructs render). */
export function nextRun(schedule: string, timeZone: string | undefined, now: number): string | undefined {
  try {
    return CronExpressionParser.parse(schedule, { currentDate: new Date(now), tz: timeZone ?? 'Etc/UTC' })
      .next()
      .toDate()
      .toISOString();
  } catch {
    return undefined;
  }
}

/**
 * The restore drill's last outcome. Two witnesses: the CronJob controller's record (`lastSuccessfulTime` is the
 * completion of the newest Job that succeeded; a run scheduled after it that is no longer active did not succeed)
 * and the result each `pg-agent verify` writes to the store (`<server>/restore-drill.json`: which backup, what
 * failed and why; it outlives a re-created CronJob). The store's record is preferred for its detail; the CronJob's
 * wins when it saw a newer run fail that recorded nothing (a drill killed, or unable to reach the store).
 */
export function drillFacts(cron: V1CronJob, recorded?: DrillResults): Exclude<StatusReport['drill'], { unavailable: string }> {
  const st = cron.status ?? {};
  const t = (d: Date | string | undefined) => (d ? new Date(d).toISOString() : undefined);
  const lastScheduleTime = t(st.lastScheduleTime);
  const lastSuccessfulTime = t(st.lastSuccessfulTime);
  const base = { schedule: cron.spec?.schedule, lastScheduleTime, lastSuccessfulTime };
  if ((st.active ?? []).length > 0) return { ...base, result: 'running' };
  const fromCron = ((): Exclude<StatusReport['drill'], { unavailable: string }> => {
    if (!lastScheduleTime) return { ...base, result: lastSuccessfulTime ? 'succeeded' : 'never' };
    if (lastSuccessfulTime && Date.parse(lastSuccessfulTime) >= Date.parse(lastScheduleTime)) return { ...base, result: 'succeeded' };
    return {
      ...base,
      result: 'failed',
      detail: `the run scheduled at ${lastScheduleTime} did not succeed: kubectl get events --field-selector reason=DrillFailed`,
    };
  })();
  const ok = recorded?.lastSucceeded;
  const bad = recorded?.lastFailed;
  const newest = ok && (!bad || ok.time >= bad.time) ? { run: ok, ok: true } : bad ? { run: bad, ok: false } : undefined;
  if (!newest) return fromCron;
  const at = new Date(newest.run.time * 1000).toISOString();
  // A scheduled run after the newest recorded one that failed without recording anything: the CronJob knows more.
  if (fromCron.result === 'failed' && lastScheduleTime && Date.parse(lastScheduleTime) > newest.run.time * 1000) return fromCron;
  const success = ok && { lastSuccessfulTime: new Date(ok.time * 1000).toISOString() };
  const backup = newest.run.backupId ? `backup ${newest.run.backupId}: ` : '';
  return newest.ok
    ? { ...base, ...success, result: 'succeeded', detail: `${backup}${newest.run.detail}` }
    : { ...base, ...success, result: 'failed', detail: `the run that ended at ${at} failed: ${backup}${newest.run.detail}` };
}

/** Reads a CronJob of the cluster (RBAC: the instance Role may get the backup and restore-drill CronJobs). */
export async function readCronJob(namespace: string, name: string): Promise<V1CronJob | undefined> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      batch.readNamespacedCronJob({ name, namespace }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new KubeError(0, `get cronjob ${name}: no answer from the Kubernetes API within 5000 ms`)), 5000);
      }),
    ]);
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (code === 404) return undefined;
    throw new KubeError(code ?? 0, `get cronjob ${name}: ${code ?? ''} ${(e as Error).message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}

export async function readPods(kube: KubeClient, cluster: string, fallbackInstances: number): Promise<{ expected: number; pods: PodFacts[] }> {
  const sts = await kube.getStatefulSet(names.statefulSet(cluster));
  const expected = sts?.spec?.replicas ?? fallbackInstances;
  const pods: PodFacts[] = [];
  for (let i = 0; i < expected; i++) {
    const name = names.pod(cluster, i);
    pods.push(podFacts(name, await kube.getPod(name)));
  }
  return { expected, pods };
}
