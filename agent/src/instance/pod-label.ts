/**
 * Keeps this pod's role label in step with what PostgreSQL is, so the `-rw`/`-ro` Services select correctly.
 * The API may be briefly unreachable: the label is retried on every status tick, never fatal.
 */
import { LABELS } from '../../../lib/contract';
import { log } from '../common/log';
import { KubeClient } from '../k8s/client';
import { InstanceRole } from '../decide';

export class RoleLabeler {
  private applied?: InstanceRole;
  private lastError?: string;

  constructor(
    private readonly kube: KubeClient,
    private readonly podName: string,
  ) {}

  get current(): InstanceRole | undefined {
    return this.applied;
  }

  async ensure(role: InstanceRole): Promise<void> {
    if (this.applied === role) return;
    try {
      await this.kube.patchPodLabels(this.podName, { [LABELS.role]: role });
      log.info({ pod: this.podName, role }, 'labelled pod with its role');
      this.applied = role;
      this.lastError = undefined;
    } catch (e) {
      const message = (e as Error).message;
      if (message !== this.lastError) log.warn({ pod: this.podName, role, err: message }, 'cannot label pod yet; will retry');
      this.lastError = message;
    }
  }
}
