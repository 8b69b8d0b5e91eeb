/**
 * `pg-agent switchover --to <pod>`: a planned switchover, run in any pod of the cluster (`kubectl exec`). It records
 * the target on the primary Lease; the primary's agent hands over only to a streaming replica, stops accepting
 * writes, publishes its final WAL position and releases the Lease; the target promotes only once it has replayed
 * past that position, and otherwise refuses (the old primary resumes). The command waits for the outcome and exits
 * non-zero when the switchover did not happen. The same annotation can be set GitOps-style with
 * `kubectl annotate lease <cluster>-primary postgres.cdk8s.io/switchover-to=<pod>`.
 */
import { ANNOTATIONS, ENV, names } from '../../../lib/contract';
import { requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { KubeError, connectKube } from '../k8s/client';

export async function switchoverCommand(
  target: string,
  opts: { wait?: boolean; timeoutSeconds?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const cluster = requireEnv(ENV.cluster, env);
  if (!new RegExp(`^${cluster}-\\d+$`).test(target)) {
    throw new AgentError(`"${target}" is not a pod of cluster ${cluster}`, `Name one of the instance pods, e.g. ${cluster}-1.`);
  }
  const kube = await connectKube(requireEnv(ENV.namespace, env));
  const leaseName = names.lease(cluster);
  for (let attempt = 0; ; attempt++) {
    const lease = await kube.getLease(leaseName);
    if (!lease) throw new AgentError(`the cluster has no primary lease ${leaseName}`, 'Wait until the cluster has bootstrapped.');
    if (lease.spec?.holderIdentity === target) {
      log.info({ target }, 'target is already the primary');
      return 0;
    }
    const annotations: Record<string, string> = { ...(lease.metadata?.annotations ?? {}), [ANNOTATIONS.switchoverTo]: target };
    delete annotations[ANNOTATIONS.switchoverResult];
    lease.metadata = { ...lease.metadata, annotations };
    try {
      await kube.replaceLease(lease);
      break;
    } catch (e) {
      // The primary renewed meanwhile: read again.
      if (e instanceof KubeError && e.code === 409 && attempt < 10) continue;
      throw e;
    }
  }
  log.info({ target }, 'switchover requested');
  if (opts.wait === false) return 0;
  const timeoutMs = (opts.timeoutSeconds ?? 120) * 1000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lease = await kube.getLease(leaseName);
    const result = lease?.metadata?.annotations?.[ANNOTATIONS.switchoverResult];
    if (lease?.spec?.holderIdentity === target && !lease.metadata?.annotations?.[ANNOTATIONS.switchoverTo]) {
      log.info({ target, result }, 'switchover done');
      return 0;
    }
    if (result?.startsWith(`${target} refused`)) {
      const reason = result.slice(`${target} refused: `.length).replace(/^switchover to \S+ refused: /, '');
      throw new AgentError(
        `switchover to ${target} did not happen: ${reason}`,
        `The primary did not change. Check that ${target} is a streaming replica (its /readyz), then ask again.`,
      );
    }
    await new Promise(r => setTimeout(r, 500));
  }
  throw new AgentError(
    `switchover to ${target} did not finish within ${timeoutMs / 1000} s`,
    `Check that ${target} is a streaming replica (its /readyz) and read both agents' logs.`,
  );
}
