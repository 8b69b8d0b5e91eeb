/**
 * Which pod the laptop command asks for the status: the primary when it is ready (only it knows its replicas' lag
 * and its archiver), else the first ready instance; none ready is an error that lists what there is.
 */
import { LABELS } from '../contract/labels';

/** The fields of `kubectl get pods -o json` items this reads. */
export interface ListedPod {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

export class NoReadyPodError extends Error {}

const isReady = (p: ListedPod) => p.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') ?? false;

export function pickPod(pods: ListedPod[], cluster: string, namespace: string): string {
  const sorted = [...pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }));
  const ready = sorted.filter(isReady);
  const chosen = ready.find(p => p.metadata.labels?.[LABELS.role] === 'primary') ?? ready[0];
  if (chosen) return chosen.metadata.name;
  const seen = sorted.map(p => `${p.metadata.name} ${p.status?.phase ?? 'Unknown'}, not ready`).join('; ');
  throw new NoReadyPodError(
    pods.length
      ? `no ready pod of cluster ${cluster} in namespace ${namespace} (${seen}): the status is read inside a running instance`
      : `no pod of cluster ${cluster} in namespace ${namespace}: check the name and namespace (kubectl get statefulset -n ${namespace}), or whether it hibernates`,
  );
}
