import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { ValidationError } from '../validation';

/** Turns `homelab/*`-style patterns into a matcher (only `*` is special). */
function globToRegExp(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

/**
 * The labels every object of a cluster carries: the chart's labels that match `patterns` (CloudNativePG's
 * INHERITED_LABELS) plus the cluster's own `labels`, which win.
 */
export function inheritedLabels(scope: Construct, patterns: string[] | undefined, own: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  (patterns ?? []).forEach((p, i) => {
    if (!p || /\s/.test(p)) throw new ValidationError(`inheritedLabels[${i}]`, `"${p}" is not a label pattern`, 'Use a label key or a glob such as "homelab/*".');
  });
  const matchers = (patterns ?? []).map(globToRegExp);
  const chartLabels = Chart.of(scope).labels;
  for (const key of Object.keys(chartLabels).sort()) {
    if (matchers.some(m => m.test(key))) result[key] = chartLabels[key];
  }
  return { ...result, ...(own ?? {}) };
}
