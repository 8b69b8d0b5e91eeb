/**
 * The agent's only door to the Kubernetes API. In a pod it uses the ServiceAccount token (in-cluster config);
 * elsewhere (tests, `kubectl`-style use) `KUBECONFIG`; the requests go through the small client in ./rest. Errors
 * keep the API's status code so callers can tell a 404 (missing) or a 409 (conflict, already exists) from a failure.
 */
// Types only (erased at build): the objects keep the API's shapes; the calls go through ./rest.
import type { V1Lease, V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { AgentError } from '../common/errors';
import { KubeError, MicroTime, kubeRest, loadKubeEndpoint } from './rest';

export { KubeError };

export interface KubeClient {
  readonly namespace: string;
  getPod(name: string): Promise<V1Pod | undefined>;
  /** Sets (or with `null` removes) labels on a pod with a JSON merge patch, so other labels are kept. */
  patchPodLabels(name: string, labels: Record<string, string | null>): Promise<V1Pod>;
  getSecret(name: string): Promise<V1Secret | undefined>;
  /** Creates a Secret; throws KubeError 409 when it already exists (never overwrites). */
  createSecret(secret: V1Secret): Promise<V1Secret>;
  /** Replaces a Secret; KubeError 409 when its resourceVersion is not the current one (someone else wrote it). */
  replaceSecret(secret: V1Secret): Promise<V1Secret>;
  /** Sets (or with `null` removes) annotations on a pod (JSON merge patch). */
  patchPodAnnotations(name: string, annotations: Record<string, string | null>): Promise<V1Pod>;
  getLease(name: string): Promise<V1Lease | undefined>;
  /** Creates a Lease; KubeError 409 when another agent created it first. */
  createLease(lease: V1Lease): Promise<V1Lease>;
  /** Replaces a Lease; KubeError 409 when its resourceVersion is not the current one (someone else wrote it). */
  replaceLease(lease: V1Lease): Promise<V1Lease>;
  getStatefulSet(name: string): Promise<V1StatefulSet | undefined>;
  /**
   * Deletes a pod gracefully (the kubelet sends SIGTERM, the StatefulSet controller recreates it); `uid` makes sure
   * it is this very pod, not a successor with the same name.
   */
  deletePod(name: string, uid?: string): Promise<void>;
  /** A timestamp in the API's MicroTime format (Lease times need microseconds). */
  microTime(date: Date): Date;
}

/** Requests the API does not answer within this time fail: an agent must never hang on a partitioned API. */
const REQUEST_TIMEOUT_MS = 5000;

const MERGE_PATCH = 'application/merge-patch+json';

export async function connectKube(namespace: string): Promise<KubeClient> {
  let endpoint;
  try {
    endpoint = await loadKubeEndpoint();
  } catch (e) {
    throw new AgentError(
      `cannot load Kubernetes credentials (${(e as Error).message})`,
      'Run in a pod with its ServiceAccount token mounted (automountServiceAccountToken), or set KUBECONFIG.',
    );
  }
  const rest = kubeRest(endpoint);
  const call = <T>(method: string, apiPath: string, what: string, body?: unknown, contentType?: string) =>
    rest<T>(method, apiPath, what, { body, contentType, timeoutMs: REQUEST_TIMEOUT_MS });
  const notFoundAsUndefined = async <T>(what: string, apiPath: string): Promise<T | undefined> => {
    try {
      return await call<T>('GET', apiPath, what);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return undefined;
      throw err;
    }
  };
  const ns = `/namespaces/${encodeURIComponent(namespace)}`;
  const pods = `/api/v1${ns}/pods`;
  const secrets = `/api/v1${ns}/secrets`;
  const leases = `/apis/coordination.k8s.io/v1${ns}/leases`;
  const statefulSets = `/apis/apps/v1${ns}/statefulsets`;
  const one = (collection: string, name: string) => `${collection}/${encodeURIComponent(name)}`;
  return {
    namespace,
    getPod: name => notFoundAsUndefined(`get pod ${name}`, one(pods, name)),
    patchPodLabels: (name, labels) => call('PATCH', one(pods, name), `label pod ${name}`, { metadata: { labels } }, MERGE_PATCH),
    getSecret: name => notFoundAsUndefined(`get secret ${name}`, one(secrets, name)),
    createSecret: secret => call('POST', secrets, `create secret ${secret.metadata?.name}`, secret),
    replaceSecret: secret => call('PUT', one(secrets, secret.metadata!.name!), `replace secret ${secret.metadata?.name}`, secret),
    patchPodAnnotations: (name, annotations) => call('PATCH', one(pods, name), `annotate pod ${name}`, { metadata: { annotations } }, MERGE_PATCH),
    getLease: name => notFoundAsUndefined(`get lease ${name}`, one(leases, name)),
    createLease: lease => call('POST', leases, `create lease ${lease.metadata?.name}`, lease),
    replaceLease: lease => call('PUT', one(leases, lease.metadata!.name!), `update lease ${lease.metadata?.name}`, lease),
    getStatefulSet: name => notFoundAsUndefined(`get statefulset ${name}`, one(statefulSets, name)),
    deletePod: async (name, uid) => {
      await call(
        'DELETE',
        one(pods, name),
        `delete pod ${name}`,
        uid ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } } : undefined,
      );
    },
    microTime: date => new MicroTime(date.getTime()),
  };
}
