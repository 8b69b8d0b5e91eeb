/**
 * The Events an instance records on its own pod (see agent/src/k8s/events.ts): promotions, hand-overs, fencing.
 * One method a decision point, each one line in command.ts; the messages are for the person reading
 * `kubectl get events`.
 */
import { EVENT_REASONS } from '../../../lib/contract';
import { EventRecorder, eventRecorder } from '../k8s/events';
import type { KubeClient } from '../k8s/client';

export class InstanceEvents {
  readonly recorder: EventRecorder;

  constructor(cfg: { namespace: string; podName: string }, kube: Pick<KubeClient, 'getPod'>) {
    this.recorder = eventRecorder({
      namespace: cfg.namespace,
      podName: cfg.podName,
      lookupPodUid: async () => (await kube.getPod(cfg.podName))?.metadata?.uid,
    });
  }

  /** This replica was promoted: by a failover (the Lease expired) or a switchover/hand-over. */
  promoted(reason: 'failover' | 'switchover', previous: string | undefined, lsn: string | undefined): void {
    const from = previous ? ` from ${previous}` : '';
    this.recorder.record(
      reason === 'failover'
        ? {
            reason: EVENT_REASONS.failover,
            type: 'Warning',
            action: 'Promote',
            relatedPod: previous,
            note: `The primary lease${from} expired; this replica (received up to ${lsn ?? 'unknown'}) was promoted and is the primary now. Check why the old primary stopped renewing (pod killed, node lost, API unreachable).`,
          }
        : {
            reason: EVENT_REASONS.switchover,
            type: 'Normal',
            action: 'Promote',
            relatedPod: previous,
            note: `Took over the primary lease${from} after replaying its final WAL position; this pod is the primary now.`,
          },
    );
  }

  /** This primary stopped cleanly and the target took the Lease over. */
  handedOver(target: string, finalLsn: string | undefined): void {
    this.recorder.record({
      reason: EVENT_REASONS.handedOver,
      type: 'Normal',
      action: 'HandOver',
      relatedPod: target,
      note: `Handed the primary role over to ${target} (final WAL position ${finalLsn ?? 'unknown'}); this pod continues as a replica or stops.`,
    });
  }

  /** This primary could not renew its Lease in time and stopped PostgreSQL. */
  fenced(sinceRenewalMs: number, renewDeadlineMs: number): void {
    this.recorder.record({
      reason: EVENT_REASONS.fenced,
      type: 'Warning',
      action: 'Fence',
      note: `The primary lease was not renewed for ${(sinceRenewalMs / 1000).toFixed(1)} s (deadline ${(renewDeadlineMs / 1000).toFixed(1)} s), so PostgreSQL was stopped before another pod may take over. Check this pod's access to the Kubernetes API.`,
    });
  }
}
