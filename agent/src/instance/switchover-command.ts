/**
 * `pg-agent switchover --to <pod>`: a planned switchover, run in any pod of the cluster (`kubectl exec`). It records
 * the target on the primary Lease; the primary's agent then stops cleanly (every committed row reaches the
 * replicas), releases the Lease, and the target takes it and promotes. The same annotation can be set GitOps-style
 * with `kubectl annotate lease <cluster>-primary postgres.cdk8s.io/switchover-to=<pod>`.
 */
import { ANNOTATIONS, ENV, names } from '../../../lib/contract';
import { requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { KubeError, connectKube } from '../k8s/client';

export async function switchoverCommand(target: string, opts: { wait?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cluster = requireEnv(ENV.cluster, env);
  if (!new RegExp(`^${cluster}-\\d+$`).test(target)) {
    throw new AgentError(`"${target}" is not a pod of cluster ${cluster}`, `Name one of the instance pods, e.g. ${cluster}-1.`);
  }
  const kube = await connectKube(requireEnv(ENV.namespace, env));
  const leaseName = names.lease(cluster);
  for (let attempt = 0; attempt < 5; attempt++) {
    const lease = await kube.getLease(leaseName);
    if (!lease) throw new AgentError(`the cluster has no primary lease ${leaseName}`, 'Wait until the cluster has bootstrapped.');
    if (lease.spec?.holderIdentity === target) {
      log.info({ target }, 'target is already the primary');
      return 0;
    }
    lease.metadata = { ...lease.metadata, annotations: { ...(lease.metadata?.annotations ?? {}), [ANNOTATIONS.switchoverTo]: target } };
    try {
      await kube.replaceLease(lease);
      break;
    } catch (e) {
      if (e instanceof KubeError && e.code === 409) continue; // the primary renewed meanwhile: read again
      throw e;
    }
  }
  log.info({ target }, 'switchover requested');
  if (!opts.wait) return 0;
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const lease = await kube.getLease(leaseName);
    if (lease?.spec?.holderIdentity === target) {
      log.info({ target }, 'switchover done');
      return 0;
    }
    await new Promise(r => setTimeout(r, 1000));
  }
  throw new AgentError(`switchover to ${target} did not finish within 2 minutes`, `Check that ${target} is a streaming replica (its /readyz) and read both agents' logs.`);
}
