/**
 * Day-2 changes from git, none of which restarts a running pod (docs/volumes-scaling-hibernation.md):
 * grow the volumes, scale, hibernate. Run with `npx ts-node examples/day-2-operations.ts` (writes dist-examples/).
 */
import { App, Chart, Size, YamlOutputType } from 'cdk8s';
import { PostgresCluster } from '../lib';

/** Monday: 2 instances on 2Gi. Later commits change only these three values. */
export const day2 = { size: Size.gibibytes(2), instances: 2, hibernate: false };

export function day2Chart(app: App, settings = day2): Chart {
  const chart = new Chart(app, 'staging-db', { namespace: 'staging' });
  new PostgresCluster(chart, 'staging-pg', {
    name: 'staging-pg',
    // 2 → 3: the new pod clones a replica; 3 → 2: the primary drops the removed pod's slot, its volume stays.
    instances: settings.instances,
    // Raise to grow the PVCs online (rbd-fast has allowVolumeExpansion: true); the StatefulSet does not change.
    storage: { size: settings.size, storageClass: 'rbd-fast' },
    // Nights and weekends: no pods, volumes and the primary's lease kept; false again resumes with the same data.
    hibernate: settings.hibernate,
    databases: [{ name: 'app', owner: 'app' }],
  });
  return chart;
}

if (require.main === module) {
  const app = new App({ outdir: 'dist-examples', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  day2Chart(app);
  app.synth();
}
