/**
 * What the instances publish about themselves on their own pods, and read about each other: the WAL position a
 * replica received (for choosing whom to promote) and the system identifier of the data it holds (the cluster's
 * identity, should the Lease be lost).
 */
import { ANNOTATIONS, names } from '../../../lib/contract';
import { PeerPosition } from '../decide';
import { KubeClient } from '../k8s/client';
import { InstanceConfig } from './config';

export interface PeerReport extends PeerPosition {
  systemIdentifier?: string;
}

/** The other instances' reports (a pod that cannot be read is left out: it cannot vouch for anything). */
export async function readPeers(kube: KubeClient, cfg: InstanceConfig, nowMs = Date.now()): Promise<PeerReport[]> {
  const out: PeerReport[] = [];
  for (let i = 0; i < cfg.instances; i++) {
    if (i === cfg.ordinal) continue;
    const name = names.pod(cfg.cluster, i);
    let annotations: Record<string, string>;
    try {
      annotations = (await kube.getPod(name))?.metadata?.annotations ?? {};
    } catch {
      continue;
    }
    const [lsn, at] = (annotations[ANNOTATIONS.receivedLsn] ?? '').split('@');
    out.push({
      name,
      ordinal: i,
      systemIdentifier: annotations[ANNOTATIONS.systemIdentifier],
      receivedLsn: lsn || undefined,
      reportedAgeMs: at ? nowMs - Date.parse(at) : undefined,
    });
  }
  return out;
}

/** `<lsn>@<iso time>`, as readPeers parses it. */
export function receivedLsnAnnotation(lsn: string, at = new Date()): string {
  return `${lsn}@${at.toISOString()}`;
}
