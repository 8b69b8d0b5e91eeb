import { Chart, Size, Testing } from 'cdk8s';
import { PostgresCluster, PostgresClusterProps } from '../../lib';

export const baseProps: PostgresClusterProps = { name: 'pg', storage: { size: Size.gibibytes(1) } };

/** Synthesizes one cluster in a fresh chart and returns its objects. */
export function synthCluster(
  props: Partial<PostgresClusterProps> = {},
  chartLabels?: Record<string, string>,
): { objects: any[]; cluster: PostgresCluster; chart: Chart } {
  const app = Testing.app();
  const chart = new Chart(app, 'test', { namespace: 'ns', labels: chartLabels });
  const cluster = new PostgresCluster(chart, 'cluster', { ...baseProps, ...props } as PostgresClusterProps);
  return { objects: Testing.synth(chart), cluster, chart };
}

export function byKind(objects: any[], kind: string, name?: string): any {
  const found = objects.filter(o => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0];
}

export function envOf(container: any): Record<string, any> {
  return Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
}
