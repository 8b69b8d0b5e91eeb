import { ApiObject, Size } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { names } from '../contract';
import { ValidationError, checkDnsLabel } from '../validation';
import { StorageProps } from './props';

/**
 * The smallest data volume the constructs accept (MiB), and the default size of the StatefulSet's claim template.
 *
 * Why the template does not carry `storage.size`: the API server refuses any change to `volumeClaimTemplates`, so
 * a size kept there could never grow from git (Flux and Argo CD fail on the immutable field). The instances' real
 * claims are rendered as PersistentVolumeClaim objects with the names the StatefulSet uses; it finds them and never
 * reads its template for them. The template only matters if a pod is created before its claim object was applied,
 * which the GitOps tools' apply order prevents (PersistentVolumeClaims before StatefulSets). Its size is then the
 * smallest accepted one, so applying the claim object right after is a growth the API server allows, never a shrink.
 */
export const MIN_STORAGE_MIB = 64;

/** Renders MiB as the largest exact binary unit. */
export function formatSize(mib: number): string {
  if (mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}Ti`;
  if (mib % 1024 === 0) return `${mib / 1024}Gi`;
  return `${mib}Mi`;
}

/** Size of the StatefulSet's claim template (see {@link MIN_STORAGE_MIB}): fixed, whatever `storage.size` says. */
export function claimTemplateSize(storage: StorageProps): string {
  return formatSize(storage.claimTemplateSize?.toMebibytes() ?? MIN_STORAGE_MIB);
}

/** Checks `storage` at synth. */
export function validateStorage(storage: StorageProps | undefined): void {
  if (!storage || !storage.size) throw new ValidationError('storage.size', 'is missing', 'Give the data volume a size, e.g. Size.gibibytes(2).');
  const mib = checkMib('storage.size', storage.size);
  if (storage.claimTemplateSize !== undefined) {
    const template = checkMib('storage.claimTemplateSize', storage.claimTemplateSize);
    if (template > mib) {
      throw new ValidationError(
        'storage.claimTemplateSize',
        `${template} MiB is larger than storage.size (${mib} MiB)`,
        'A claim made from the template would be shrunk by the claim object, which Kubernetes refuses: keep claimTemplateSize at or below storage.size (it is only the size the StatefulSet was first created with).',
      );
    }
  }
  if (storage.storageClass !== undefined) checkDnsLabel('storage.storageClass', storage.storageClass, 253);
}

function checkMib(prop: string, size: Size): number {
  const mib = size.toMebibytes();
  if (!Number.isInteger(mib) || mib < MIN_STORAGE_MIB) {
    throw new ValidationError(
      prop,
      `${mib} MiB is not a whole number of MiB of at least ${MIN_STORAGE_MIB}`,
      `Use Size.gibibytes(n) or Size.mebibytes(n) with n of at least ${MIN_STORAGE_MIB}.`,
    );
  }
  return mib;
}

/**
 * Annotations that keep a data volume when GitOps prunes: scaling down (or deleting the cluster from git, or the
 * Argo CD Application) removes the claim object from the manifests, and the data must stay, as the StatefulSet's
 * retention policy keeps it.
 */
export const KEEP_ON_PRUNE = {
  'kustomize.toolkit.fluxcd.io/prune': 'disabled',
  'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false',
} as const;

export interface VolumeClaimsProps {
  readonly cluster: string;
  readonly instances: number;
  readonly storage: StorageProps;
  readonly labels: Record<string, string>;
}

/**
 * One PersistentVolumeClaim per instance, named as the StatefulSet names its claims (`pgdata-<sts>-<ordinal>`),
 * carrying `storage.size`: raising it is an update of these objects only, which the API server allows (online
 * expansion where the StorageClass has `allowVolumeExpansion: true`), and the StatefulSet stays byte-identical.
 */
export function renderVolumeClaims(scope: Construct, props: VolumeClaimsProps): ApiObject[] {
  const size = k8s.Quantity.fromString(formatSize(props.storage.size.toMebibytes()));
  return Array.from(
    { length: props.instances },
    (_, ordinal) =>
      new k8s.KubePersistentVolumeClaim(scope, `VolumeClaim${ordinal}`, {
        metadata: { name: names.pvc(props.cluster, ordinal), labels: props.labels, annotations: { ...KEEP_ON_PRUNE } },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: props.storage.storageClass,
          resources: { requests: { storage: size } },
        },
      }),
  );
}
