import { k8s } from 'cdk8s-plus-28';
import { ValidationError, parseQuantity } from '../validation';

export interface ResourceQuantities {
  /** CPU, e.g. `100m`. */
  readonly cpu?: string;
  /** Memory, e.g. `128Mi`. */
  readonly memory?: string;
}

/** Requests and limits of the postgres container. Only what you set is rendered. */
export interface ResourceProps {
  /** @default - no requests */
  readonly requests?: ResourceQuantities;
  /** @default - no limits */
  readonly limits?: ResourceQuantities;
}

/**
 * Checks requests and limits at synth: Kubernetes quantities, at least 64Mi of memory (a PostgreSQL server runs in
 * every container these props size), no request above its limit. `prop` names the props in messages.
 */
export function validateResources(prop: string, resources: ResourceProps | undefined): void {
  for (const kind of ['requests', 'limits'] as const) {
    const q = resources?.[kind];
    if (!q) continue;
    if (q.cpu !== undefined) parseQuantity(`${prop}.${kind}.cpu`, q.cpu);
    if (q.memory !== undefined) {
      const bytes = parseQuantity(`${prop}.${kind}.memory`, q.memory);
      if (bytes < 64 * 2 ** 20)
        throw new ValidationError(
          `${prop}.${kind}.memory`,
          `"${q.memory}" is below 64Mi`,
          'PostgreSQL and the agent need at least 64Mi; the reference homelab uses 128Mi.',
        );
    }
  }
  const req = resources?.requests;
  const lim = resources?.limits;
  for (const key of ['cpu', 'memory'] as const) {
    if (req?.[key] && lim?.[key] && parseQuantity(`${prop}.requests.${key}`, req[key]!) > parseQuantity(`${prop}.limits.${key}`, lim[key]!)) {
      throw new ValidationError(
        `${prop}.requests.${key}`,
        `${req[key]} exceeds the limit ${lim[key]}`,
        'Kubernetes rejects a request above its limit: lower the request or raise the limit.',
      );
    }
  }
}

/** The container's resources: only what was set is rendered. */
export function renderResources(resources: ResourceProps | undefined): k8s.ResourceRequirements | undefined {
  const pick = (q?: { cpu?: string; memory?: string }) => {
    if (!q) return undefined;
    const out: Record<string, k8s.Quantity> = {};
    if (q.cpu) out.cpu = k8s.Quantity.fromString(q.cpu);
    if (q.memory) out.memory = k8s.Quantity.fromString(q.memory);
    return Object.keys(out).length ? out : undefined;
  };
  const requests = pick(resources?.requests);
  const limits = pick(resources?.limits);
  return requests || limits ? { requests, limits } : undefined;
}
