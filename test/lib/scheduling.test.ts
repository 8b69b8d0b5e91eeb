/**
 * Scheduling props of a PostgresCluster: tolerations, nodeSelector, topologySpreadConstraints and affinity reach
 * the instance pods (tolerations and nodeSelector also the cluster's Jobs), combine with the default anti-affinity,
 * pass the strict Kubernetes 1.28 schemas, and every wrong value is refused at synth naming the prop and the fix.
 */
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster, PostgresClusterProps, RestoreDrill } from '../../lib';
import { loadValidator } from '../support/schemas';
import { byKind, synthCluster } from './helpers';

const arm = { key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] };
const scheduling: Partial<PostgresClusterProps> = {
  instances: 2,
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
  ],
  nodeSelector: { 'homelab/storage': 'ssd' },
  topologySpreadConstraints: [{ topologyKey: 'kubernetes.io/arch' }],
  affinity: {
    nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [arm] } }] },
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { topologyKey: 'topology.kubernetes.io/zone', labelSelector: { matchLabels: { app: 'big-batch' } } },
      ],
    },
  },
};

describe('scheduling props', () => {
  test('reach the instance pods, keep the default anti-affinity, and pass the strict schema', () => {
    const { objects } = synthCluster(scheduling);
    const sts = byKind(objects, 'StatefulSet');
    const pod = sts.spec.template.spec;
    expect(pod.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
    ]);
    expect(pod.nodeSelector).toEqual({ 'homelab/storage': 'ssd' });
    expect(pod.topologySpreadConstraints).toEqual([
      {
        topologyKey: 'kubernetes.io/arch',
        maxSkew: 1,
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: sts.spec.selector.matchLabels },
      },
    ]);
    expect(pod.affinity.nodeAffinity).toEqual(scheduling.affinity!.nodeAffinity);
    // The default rule (one instance per node, preferred) is still there, next to the user's term.
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: sts.spec.selector.matchLabels }, topologyKey: 'kubernetes.io/hostname' } },
    ]);
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual(
      scheduling.affinity!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution,
    );
    expect(loadValidator().validate(sts)).toEqual([]);
  });

  test("the cluster's Jobs get the tolerations and node selector, not the spread or affinity", () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ns' });
    const store = new BackupStore(chart, 'store', { endpoint: 'http://rgw:80', bucket: 'backups', credentials: { secretName: 's3-user' } });
    const cluster = new PostgresCluster(chart, 'pg', {
      name: 'pg',
      storage: { size: Size.gibibytes(1) },
      backup: { store, immediate: true },
      ...scheduling,
    });
    new RestoreDrill(chart, 'drill', { cluster });
    const objects = Testing.synth(chart);
    const specs = [
      byKind(objects, 'Job', 'pg-secrets').spec.template.spec,
      byKind(objects, 'Job', 'pg-backup-initial').spec.template.spec,
      byKind(objects, 'CronJob', 'pg-backup').spec.jobTemplate.spec.template.spec,
      byKind(objects, 'CronJob', 'pg-restore-drill').spec.jobTemplate.spec.template.spec,
    ];
    for (const spec of specs) {
      expect(spec.tolerations).toHaveLength(2);
      expect(spec.nodeSelector).toEqual({ 'homelab/storage': 'ssd' });
      expect(spec.affinity).toBeUndefined();
      expect(spec.topologySpreadConstraints).toBeUndefined();
    }
  });

  test('without them nothing changes: the default anti-affinity alone', () => {
    const pod = byKind(synthCluster().objects, 'StatefulSet').spec.template.spec;
    expect(pod.tolerations).toBeUndefined();
    expect(pod.nodeSelector).toBeUndefined();
    expect(pod.topologySpreadConstraints).toBeUndefined();
    expect(Object.keys(pod.affinity)).toEqual(['podAntiAffinity']);
  });

  test.each<[string, Partial<PostgresClusterProps>, RegExp]>([
    [
      'an unknown toleration operator',
      { tolerations: [{ key: 'a', operator: 'Is' as any }] },
      /^tolerations\[0\]\.operator: "Is" is not known\. Use "Equal"/,
    ],
    [
      'an unknown effect',
      { tolerations: [{ key: 'a', value: 'b', effect: 'NoRun' as any }] },
      /^tolerations\[0\]\.effect: "NoRun" is not known\. Use one of NoSchedule/,
    ],
    [
      'a value with Exists',
      { tolerations: [{ key: 'a', operator: 'Exists', value: 'b' }] },
      /^tolerations\[0\]\.value: must be empty with operator "Exists"/,
    ],
    ['Equal without a key', { tolerations: [{ value: 'b' }] }, /^tolerations\[0\]\.key: is empty with operator "Equal"\. Name the taint key/],
    ['a bad taint key', { tolerations: [{ key: 'a b', value: 'c' }] }, /^tolerations\[0\]\.key\["a b"\]: is not a valid label key/],
    [
      'tolerationSeconds without NoExecute',
      { tolerations: [{ key: 'a', value: 'b', tolerationSeconds: 5 }] },
      /^tolerations\[0\]\.tolerationSeconds: only applies to effect "NoExecute"/,
    ],
    [
      'negative tolerationSeconds',
      { tolerations: [{ key: 'a', value: 'b', effect: 'NoExecute', tolerationSeconds: -1 }] },
      /^tolerations\[0\]\.tolerationSeconds: -1 is not a whole number/,
    ],
    ['an empty nodeSelector', { nodeSelector: {} }, /^nodeSelector: is empty\. Leave it out/],
    [
      'a bad nodeSelector value',
      { nodeSelector: { 'kubernetes.io/arch': 'arm 64' } },
      /^nodeSelector\["kubernetes.io\/arch"\]: value "arm 64" is not a valid label value/,
    ],
    ['a spread without key', { topologySpreadConstraints: [{ topologyKey: '' }] }, /^topologySpreadConstraints\[0\]\.topologyKey: is empty/],
    [
      'a spread with maxSkew 0',
      { topologySpreadConstraints: [{ topologyKey: 'zone', maxSkew: 0 }] },
      /^topologySpreadConstraints\[0\]\.maxSkew: 0 is not a whole number of 1 or more/,
    ],
    [
      'an unknown whenUnsatisfiable',
      { topologySpreadConstraints: [{ topologyKey: 'zone', whenUnsatisfiable: 'Never' as any }] },
      /^topologySpreadConstraints\[0\]\.whenUnsatisfiable: "Never" is not known/,
    ],
    [
      'required node affinity without terms',
      { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } } },
      /^affinity\.nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution\.nodeSelectorTerms: is empty, so no node would match/,
    ],
    [
      'a node expression with an unknown operator',
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }],
            },
          },
        },
      },
      /^affinity\.nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution\.nodeSelectorTerms\[0\]\.matchExpressions\[0\]\.operator: "Equals" is not known/,
    ],
    [
      'In without values',
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] },
          },
        },
      },
      /matchExpressions\[0\]\.values: is empty with operator "In"/,
    ],
    [
      'Gt with a word',
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'cpus', operator: 'Gt', values: ['many'] }] }],
            },
          },
        },
      },
      /matchExpressions\[0\]\.values: must be one whole number with operator "Gt"/,
    ],
    [
      'a preference weight of 0',
      { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: { matchExpressions: [arm] } }] } } },
      /^affinity\.nodeAffinity\.preferredDuringSchedulingIgnoredDuringExecution\[0\]\.weight: 0 is not a whole number between 1 and 100/,
    ],
    [
      'a pod anti-affinity term without topologyKey',
      { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: '' }] } } },
      /^affinity\.podAntiAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[0\]\.topologyKey: is empty/,
    ],
  ])('refuses %s, naming the prop and the fix', (_what, props, message) => {
    expect(() => synthCluster(props)).toThrow(message);
  });
});
