import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { LABEL_PREFIX } from '../contract';
import { ValidationError } from '../validation';

/** Turns `homelab/*`-style patterns into a matcher (only `*` is special). */
function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    '^' +
      pattern
        .split('*')
        .map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
}

/**
 * The labels every object of a cluster carries: the chart's labels that match `patterns` (CloudNativePG's
 * INHERITED_LABELS) plus the cluster's own `labels`, which win.
 */
export function inheritedLabels(scope: Construct, patterns: string[] | undefined, own: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  (patterns ?? []).forEach((p, i) => {
    if (!p || /\s/.test(p))
      throw new ValidationError(`inheritedLabels[${i}]`, `"${p}" is not a label pattern`, 'Use a label key or a glob such as "homelab/*".');
  });
  const matchers = (patterns ?? []).map(globToRegExp);
  const chartLabels = Chart.of(scope).labels;
  for (const key of Object.keys(chartLabels).sort()) {
    const i = matchers.findIndex(m => m.test(key));
    if (i < 0) continue;
    if (key.startsWith(LABEL_PREFIX)) {
      throw new ValidationError(
        `inheritedLabels[${i}]`,
        `"${patterns![i]}" copies the chart label "${key}", which is under ${LABEL_PREFIX} (cdk8s-postgres owns those: the Services and network policies select on them)`,
        'Narrow the pattern to your own labels, e.g. "homelab/*", or move the chart label under your own prefix.',
      );
    }
    result[key] = chartLabels[key];
  }
  return { ...result, ...(own ?? {}) };
}
