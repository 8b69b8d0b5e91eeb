/**
 * The agent's only door to the Kubernetes API. In a pod it uses the ServiceAccount token (in-cluster config);
 * elsewhere (tests, `kubectl`-style use) `KUBECONFIG`. Errors keep the API's status code so callers can tell a
 * 404 (missing) or a 409 (conflict, already exists) from a failure.
 */
import type { AppsV1Api, CoordinationV1Api, CoreV1Api, V1Lease, V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { AgentError } from '../common/errors';

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

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

/** Maps the client's ApiException to KubeError, reading the Status message the API server sends. */
function toKubeError(err: unknown, what: string): KubeError {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code !== 'number') {
    return new KubeError(0, `${what}: Kubernetes API unreachable (${e?.message ?? String(err)})`);
  }
  let message = e.message ?? '';
  try {
    const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
    if (body && typeof body === 'object' && 'message' in body) message = String((body as { message: unknown }).message);
  } catch {
    /* keep the client's message */
  }
  return new KubeError(e.code, `${what}: ${e.code} ${message}`);
}

/** Requests the API does not answer within this time fail: an agent must never hang on a partitioned API. */
const REQUEST_TIMEOUT_MS = 5000;

function withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new KubeError(0, `${what}: no answer from the Kubernetes API within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function connectKube(namespace: string): Promise<KubeClient> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new AgentError(
      `cannot load Kubernetes credentials (${(e as Error).message})`,
      'Run in a pod with its ServiceAccount token mounted, or set KUBECONFIG.',
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new AgentError('no Kubernetes API configured', 'Run in a pod with automountServiceAccountToken, or set KUBECONFIG.');
  }
  const core: CoreV1Api = kc.makeApiClient(k8s.CoreV1Api);
  const coordination: CoordinationV1Api = kc.makeApiClient(k8s.CoordinationV1Api);
  const apps: AppsV1Api = kc.makeApiClient(k8s.AppsV1Api);
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const notFoundAsUndefined = async <T>(what: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await withTimeout(what, call());
    } catch (err) {
      const ke = err instanceof KubeError ? err : toKubeError(err, what);
      if (ke.code === 404) return undefined;
      throw ke;
    }
  };
  const rethrow = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await withTimeout(what, call());
    } catch (err) {
      throw err instanceof KubeError ? err : toKubeError(err, what);
    }
  };
  return {
    namespace,
    getPod: name => notFoundAsUndefined(`get pod ${name}`, () => core.readNamespacedPod({ name, namespace })),
    patchPodLabels: (name, labels) =>
      rethrow(`label pod ${name}`, () => core.patchNamespacedPod({ name, namespace, body: { metadata: { labels } } }, mergePatch)),
    getSecret: name => notFoundAsUndefined(`get secret ${name}`, () => core.readNamespacedSecret({ name, namespace })),
    createSecret: secret => rethrow(`create secret ${secret.metadata?.name}`, () => core.createNamespacedSecret({ namespace, body: secret })),
    replaceSecret: secret =>
      rethrow(`replace secret ${secret.metadata?.name}`, () =>
        core.replaceNamespacedSecret({ name: secret.metadata!.name!, namespace, body: secret }),
      ),
    patchPodAnnotations: (name, annotations) =>
      rethrow(`annotate pod ${name}`, () => core.patchNamespacedPod({ name, namespace, body: { metadata: { annotations } } }, mergePatch)),
    getLease: name => notFoundAsUndefined(`get lease ${name}`, () => coordination.readNamespacedLease({ name, namespace })),
    createLease: lease => rethrow(`create lease ${lease.metadata?.name}`, () => coordination.createNamespacedLease({ namespace, body: lease })),
    replaceLease: lease =>
      rethrow(`update lease ${lease.metadata?.name}`, () =>
        coordination.replaceNamespacedLease({ name: lease.metadata!.name!, namespace, body: lease }),
      ),
    getStatefulSet: name => notFoundAsUndefined(`get statefulset ${name}`, () => apps.readNamespacedStatefulSet({ name, namespace })),
    deletePod: async (name, uid) => {
      await rethrow(`delete pod ${name}`, () => core.deleteNamespacedPod({ name, namespace, body: uid ? { preconditions: { uid } } : undefined }));
    },
    microTime: date => new k8s.V1MicroTime(date.getTime()),
  };
}
