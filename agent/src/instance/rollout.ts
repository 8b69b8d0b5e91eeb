/**
 * The executing side of agent-driven rollouts (the decision is `decideRollout` in decide/rollout.ts): every few
 * seconds read the StatefulSet's update revision and the pods of the cluster, and when the decision says so delete
 * this pod, so that the StatefulSet controller recreates it from the new template on the same volume. The primary's
 * stop (SIGTERM from the kubelet) hands the lease over, as for any stop.
 */
import { LABELS, names } from '../../../lib/contract';
import { log } from '../common/log';
import { RolloutDecision, RolloutPeer, decideRollout } from '../decide';
import { KubeClient } from '../k8s/client';
import { InstanceConfig } from './config';

/** How often the rollout state is read: a few API reads per pod, so not every tick. */
export const ROLLOUT_CHECK_MS = 5000;

export class RolloutWatch {
  private lastCheck = 0;
  private lastWhy = '';
  private replacing = false;

  constructor(
    private readonly kube: KubeClient,
    private readonly cfg: InstanceConfig,
  ) {}

  /** Called on every tick of a running primary or replica; does its work every {@link ROLLOUT_CHECK_MS}. */
  async check(role: 'primary' | 'replica', streaming: string[]): Promise<RolloutDecision | undefined> {
    if (this.checking || this.replacing || Date.now() - this.lastCheck < ROLLOUT_CHECK_MS) return undefined;
    this.checking = true;
    try {
      return await this.checkNow(role, streaming);
    } finally {
      this.checking = false;
      this.lastCheck = Date.now();
    }
  }

  private checking = false;

  private async checkNow(role: 'primary' | 'replica', streaming: string[]): Promise<RolloutDecision | undefined> {
    let decision: RolloutDecision;
    let uid: string | undefined;
    try {
      const sts = await this.kube.getStatefulSet(names.statefulSet(this.cfg.cluster));
      const updateRevision = sts?.status?.updateRevision;
      if (!sts || !updateRevision) return { action: 'none' };
      const me = await this.kube.getPod(this.cfg.podName);
      uid = me?.metadata?.uid;
      const peers: RolloutPeer[] = [];
      const replicas = sts.spec?.replicas ?? this.cfg.instances;
      for (let i = 0; i < replicas; i++) {
        const name = names.pod(this.cfg.cluster, i);
        if (name === this.cfg.podName) continue;
        const pod = await this.kube.getPod(name);
        peers.push({
          name,
          ordinal: i,
          exists: !!pod,
          revision: pod?.metadata?.labels?.[LABELS.revision],
          ready: !!pod?.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True'),
          terminating: !!pod?.metadata?.deletionTimestamp,
          primary: pod?.metadata?.labels?.[LABELS.role] === 'primary',
        });
      }
      decision = decideRollout({
        strategy: sts.spec?.updateStrategy?.type,
        me: this.cfg.podName,
        ordinal: this.cfg.ordinal,
        role,
        myRevision: me?.metadata?.labels?.[LABELS.revision],
        updateRevision,
        peers,
        streaming,
      });
    } catch (e) {
      this.say('info', `rollout state unreadable: ${(e as Error).message}`);
      return undefined;
    }
    if (decision.action === 'wait') this.say('info', `rollout: ${decision.why}`);
    if (decision.action === 'replace-own-pod') {
      log.warn({}, `rollout: ${decision.why}`);
      this.replacing = true;
      try {
        await this.kube.deletePod(this.cfg.podName, uid);
      } catch (e) {
        this.replacing = false;
        this.say('warn', `rollout: cannot delete this pod yet: ${(e as Error).message}`);
      }
    }
    return decision;
  }

  private say(level: 'info' | 'warn', why: string): void {
    if (why === this.lastWhy) return;
    this.lastWhy = why;
    log[level]({}, why);
  }
}
