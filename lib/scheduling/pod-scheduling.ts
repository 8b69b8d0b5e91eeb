/**
 * Where the instance pods (and the cluster's Jobs) may run: tolerations, a node selector, topology spread
 * constraints and affinity, validated at synth with the prop and the fix, then rendered into the pod specs.
 * The default anti-affinity (`antiAffinity`, one instance per node) is kept and combined with `affinity`.
 */
import { k8s } from 'cdk8s-plus-28';
import { ValidationError, checkLabels } from '../validation';

/** A toleration of a node taint (Kubernetes `Toleration`). */
export interface SchedulingToleration {
  /** Taint key; empty or absent with operator `Exists` tolerates every taint. */
  readonly key?: string;
  /** @default 'Equal' */
  readonly operator?: 'Equal' | 'Exists';
  /** The taint's value, with operator `Equal` only. */
  readonly value?: string;
  /** @default - every effect */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  /** With effect `NoExecute`: how long the pod stays after the taint appears. @default - forever */
  readonly tolerationSeconds?: number;
}

/** Spread the instances over a topology domain (Kubernetes `TopologySpreadConstraint`, selecting the cluster's instances). */
export interface SchedulingSpread {
  /** Node label whose values are the domains, e.g. `kubernetes.io/arch`, `topology.kubernetes.io/zone`. */
  readonly topologyKey: string;
  /** @default 1 */
  readonly maxSkew?: number;
  /** @default 'ScheduleAnyway' (a soft rule: a pod is never left pending for it) */
  readonly whenUnsatisfiable?: 'DoNotSchedule' | 'ScheduleAnyway';
}

/** Affinity added to the pods; `podAntiAffinity` terms are added to the default anti-affinity's, not replacing it. */
export interface SchedulingAffinity {
  readonly nodeAffinity?: k8s.NodeAffinity;
  readonly podAffinity?: k8s.PodAffinity;
  readonly podAntiAffinity?: k8s.PodAntiAffinity;
}

/** Scheduling props of a PostgresCluster. */
export interface SchedulingProps {
  /**
   * Taints the instance pods tolerate (also the cluster's Jobs: secrets, backups, restore drill), e.g. a dedicated
   * database node `{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }`.
   * @default - none
   */
  readonly tolerations?: SchedulingToleration[];
  /**
   * Node labels the instance pods (and the cluster's Jobs) require, e.g. `{ 'kubernetes.io/arch': 'amd64' }`.
   * @default - any node
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Spread the instances over domains, e.g. `[{ topologyKey: 'kubernetes.io/arch' }]` for one instance on the
   * Raspberry Pis and one on x86. Each constraint selects the cluster's instance pods.
   * @default - none (the default anti-affinity spreads them over nodes)
   */
  readonly topologySpreadConstraints?: SchedulingSpread[];
  /**
   * Node affinity, pod affinity and more pod anti-affinity for the instance pods. Combined with `antiAffinity`:
   * the default rule (one instance per node) stays, and `podAntiAffinity` terms given here are added to it.
   * @default - only the `antiAffinity` rule
   */
  readonly affinity?: SchedulingAffinity;
}

/** What the cluster's Jobs get of the scheduling props: where they may run, not how to spread. */
export function jobPlacement(p: SchedulingProps): Pick<k8s.PodSpec, 'tolerations' | 'nodeSelector'> {
  return { tolerations: renderTolerations(p), nodeSelector: p.nodeSelector };
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const NODE_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'];
const LABEL_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Throws a ValidationError naming the first wrong value; returns nothing when all is well. */
export function validateScheduling(p: SchedulingProps): void {
  (p.tolerations ?? []).forEach((t, i) => checkToleration(`tolerations[${i}]`, t));
  if (p.nodeSelector !== undefined) {
    if (Object.keys(p.nodeSelector).length === 0)
      throw new ValidationError('nodeSelector', 'is empty', 'Leave it out, or name node labels, e.g. { "kubernetes.io/arch": "arm64" }.');
    checkLabels('nodeSelector', p.nodeSelector);
  }
  (p.topologySpreadConstraints ?? []).forEach((s, i) => {
    const at = `topologySpreadConstraints[${i}]`;
    checkKey(`${at}.topologyKey`, s.topologyKey);
    const skew = s.maxSkew ?? 1;
    if (!Number.isInteger(skew) || skew < 1)
      throw new ValidationError(
        `${at}.maxSkew`,
        `${skew} is not a whole number of 1 or more`,
        'Use 1 to keep the domains within one instance of each other.',
      );
    if (s.whenUnsatisfiable !== undefined && !['DoNotSchedule', 'ScheduleAnyway'].includes(s.whenUnsatisfiable))
      throw new ValidationError(
        `${at}.whenUnsatisfiable`,
        `"${s.whenUnsatisfiable}" is not known`,
        'Use "ScheduleAnyway" (soft) or "DoNotSchedule" (hard).',
      );
  });
  const a = p.affinity;
  if (a?.nodeAffinity) {
    const required = a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    if (required) {
      if (!required.nodeSelectorTerms?.length)
        throw new ValidationError(
          'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms',
          'is empty, so no node would match',
          'Give at least one term, e.g. { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }] }.',
        );
      required.nodeSelectorTerms.forEach((t, i) =>
        checkNodeTerm(`affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`, t),
      );
    }
    (a.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) => {
      const at = `affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      checkWeight(`${at}.weight`, t.weight);
      checkNodeTerm(`${at}.preference`, t.preference);
    });
  }
  for (const kind of ['podAffinity', 'podAntiAffinity'] as const) {
    const pa = a?.[kind];
    if (!pa) continue;
    (pa.requiredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) =>
      checkPodTerm(`affinity.${kind}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, t),
    );
    (pa.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) => {
      const at = `affinity.${kind}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      checkWeight(`${at}.weight`, t.weight);
      checkPodTerm(`${at}.podAffinityTerm`, t.podAffinityTerm);
    });
  }
}

function checkKey(prop: string, key: string | undefined): void {
  if (!key) throw new ValidationError(prop, 'is empty', 'Name a label key, e.g. "kubernetes.io/hostname".');
  checkLabels(prop, { [key]: '' });
}

function checkToleration(at: string, t: SchedulingToleration): void {
  const operator = t.operator ?? 'Equal';
  if (!['Equal', 'Exists'].includes(operator))
    throw new ValidationError(`${at}.operator`, `"${t.operator}" is not known`, 'Use "Equal" (key and value match) or "Exists" (any value).');
  if (t.effect !== undefined && !EFFECTS.includes(t.effect))
    throw new ValidationError(`${at}.effect`, `"${t.effect}" is not known`, `Use one of ${EFFECTS.join(', ')}, or leave it out for every effect.`);
  if (operator === 'Exists' && t.value !== undefined && t.value !== '')
    throw new ValidationError(`${at}.value`, `must be empty with operator "Exists" (it is "${t.value}")`, 'Drop the value, or use operator "Equal".');
  if (operator === 'Equal' && !t.key)
    throw new ValidationError(`${at}.key`, 'is empty with operator "Equal"', 'Name the taint key, or use operator "Exists" to tolerate every taint.');
  if (t.key) checkLabels(`${at}.key`, { [t.key]: t.value ?? '' });
  if (t.tolerationSeconds !== undefined) {
    if (t.effect !== 'NoExecute')
      throw new ValidationError(
        `${at}.tolerationSeconds`,
        'only applies to effect "NoExecute"',
        'Set effect: "NoExecute", or drop tolerationSeconds.',
      );
    if (!Number.isInteger(t.tolerationSeconds) || t.tolerationSeconds < 0)
      throw new ValidationError(`${at}.tolerationSeconds`, `${t.tolerationSeconds} is not a whole number of 0 or more`, 'Give seconds, e.g. 300.');
  }
}

function checkWeight(prop: string, weight: number): void {
  if (!Number.isInteger(weight) || weight < 1 || weight > 100)
    throw new ValidationError(
      prop,
      `${weight} is not a whole number between 1 and 100`,
      'Use e.g. 50; the scheduler adds the weights of the terms a node meets.',
    );
}

function checkNodeTerm(at: string, term: k8s.NodeSelectorTerm): void {
  const exprs = [
    ...(term.matchExpressions ?? []).map(e => ['matchExpressions', e] as const),
    ...(term.matchFields ?? []).map(e => ['matchFields', e] as const),
  ];
  if (!exprs.length) throw new ValidationError(at, 'has no matchExpressions nor matchFields, so it matches no node', 'Give at least one expression.');
  exprs.forEach(([kind, e], i) => {
    const p = `${at}.${kind}[${kind === 'matchExpressions' ? i : i - (term.matchExpressions?.length ?? 0)}]`;
    if (!NODE_OPERATORS.includes(e.operator))
      throw new ValidationError(`${p}.operator`, `"${e.operator}" is not known`, `Use one of ${NODE_OPERATORS.join(', ')}.`);
    if (kind === 'matchExpressions') checkKey(`${p}.key`, e.key);
    checkValues(p, e.operator, e.values);
  });
}

function checkPodTerm(at: string, term: k8s.PodAffinityTerm): void {
  if (!term?.topologyKey) throw new ValidationError(`${at}.topologyKey`, 'is empty', 'Name a node label, e.g. "kubernetes.io/hostname".');
  checkKey(`${at}.topologyKey`, term.topologyKey);
  if (term.labelSelector?.matchLabels) checkLabels(`${at}.labelSelector.matchLabels`, term.labelSelector.matchLabels);
  (term.labelSelector?.matchExpressions ?? []).forEach((e, i) => {
    const p = `${at}.labelSelector.matchExpressions[${i}]`;
    if (!LABEL_OPERATORS.includes(e.operator))
      throw new ValidationError(`${p}.operator`, `"${e.operator}" is not known`, `Use one of ${LABEL_OPERATORS.join(', ')}.`);
    checkKey(`${p}.key`, e.key);
    checkValues(p, e.operator, e.values);
  });
}

function checkValues(at: string, operator: string, values: string[] | undefined): void {
  const n = values?.length ?? 0;
  if ((operator === 'In' || operator === 'NotIn') && n === 0)
    throw new ValidationError(`${at}.values`, `is empty with operator "${operator}"`, 'Give at least one value.');
  if ((operator === 'Exists' || operator === 'DoesNotExist') && n > 0)
    throw new ValidationError(`${at}.values`, `must be empty with operator "${operator}"`, 'Drop the values, or use "In".');
  if ((operator === 'Gt' || operator === 'Lt') && (n !== 1 || !/^-?\d+$/.test(values![0])))
    throw new ValidationError(`${at}.values`, `must be one whole number with operator "${operator}"`, 'Give e.g. ["4"].');
}

/** The tolerations as the pod spec wants them (undefined when none). */
export function renderTolerations(p: SchedulingProps): k8s.Toleration[] | undefined {
  if (!p.tolerations?.length) return undefined;
  return p.tolerations.map(t => ({
    key: t.key,
    operator: t.operator ?? 'Equal',
    value: t.value,
    effect: t.effect,
    tolerationSeconds: t.tolerationSeconds,
  }));
}

/** The spread constraints, each selecting the cluster's instances (undefined when none). */
export function renderSpread(p: SchedulingProps, instanceSelector: Record<string, string>): k8s.TopologySpreadConstraint[] | undefined {
  if (!p.topologySpreadConstraints?.length) return undefined;
  return p.topologySpreadConstraints.map(s => ({
    topologyKey: s.topologyKey,
    maxSkew: s.maxSkew ?? 1,
    whenUnsatisfiable: s.whenUnsatisfiable ?? 'ScheduleAnyway',
    labelSelector: { matchLabels: instanceSelector },
  }));
}

/** The default anti-affinity with the user's affinity added: node and pod affinity as given, anti-affinity terms appended. */
export function mergeAffinity(base: k8s.Affinity | undefined, extra: SchedulingAffinity | undefined): k8s.Affinity | undefined {
  if (!extra) return base;
  const anti = base?.podAntiAffinity;
  const userAnti = extra.podAntiAffinity;
  const join = <T>(a?: T[], b?: T[]) => (a || b ? [...(a ?? []), ...(b ?? [])] : undefined);
  const podAntiAffinity =
    anti || userAnti
      ? {
          requiredDuringSchedulingIgnoredDuringExecution: join(
            anti?.requiredDuringSchedulingIgnoredDuringExecution,
            userAnti?.requiredDuringSchedulingIgnoredDuringExecution,
          ),
          preferredDuringSchedulingIgnoredDuringExecution: join(
            anti?.preferredDuringSchedulingIgnoredDuringExecution,
            userAnti?.preferredDuringSchedulingIgnoredDuringExecution,
          ),
        }
      : undefined;
  return { nodeAffinity: extra.nodeAffinity, podAffinity: extra.podAffinity, podAntiAffinity };
}
