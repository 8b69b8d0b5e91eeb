import { k8s } from 'cdk8s-plus-28';
import { ValidationError } from '../validation';
import { ImportProps, resolveImport } from './import';
import { PgBasebackupProps, resolvePgBasebackup } from './pg-basebackup';
import { RecoveryProps, ResolvedRecovery, recoveryEnv, resolveRecovery } from './recovery';

/** How the first instance of a new cluster gets its data. Set at most one; none = initdb. */
export interface BootstrapProps {
  /** Restore from another cluster's backups (with point-in-time recovery) instead of initdb. */
  readonly recovery?: RecoveryProps;
  /** Stream a running PostgreSQL server (a migration), then promote or keep following it. */
  readonly pgBasebackup?: PgBasebackupProps;
  /** initdb, then a logical copy of a running server of the same or an older major (a major upgrade). */
  readonly import?: ImportProps;
}

/** What the StatefulSet's pod needs for the chosen bootstrap: environment, volumes, mounts. */
export interface ResolvedBootstrap {
  readonly env: k8s.EnvVar[];
  readonly volumes: k8s.Volume[];
  readonly mounts: k8s.VolumeMount[];
  readonly recovery?: ResolvedRecovery;
}

export function resolveBootstrap(b: BootstrapProps | undefined, databases: ReadonlyArray<{ name: string; owner: string }> = []): ResolvedBootstrap {
  const chosen = (['recovery', 'pgBasebackup', 'import'] as const).filter(k => b?.[k] !== undefined);
  if (chosen.length > 1) {
    throw new ValidationError(
      'bootstrap',
      `sets both ${chosen.join(' and ')}`,
      'Choose one: recovery (from backups in a store), pgBasebackup (stream a running server of the same major) or import (a logical copy, also across majors).',
    );
  }
  if (b?.recovery) {
    const recovery = resolveRecovery(b.recovery);
    return { recovery, env: recoveryEnv(recovery), volumes: recovery.ca ? [recovery.ca.volume] : [], mounts: recovery.ca ? [recovery.ca.mount] : [] };
  }
  if (b?.pgBasebackup) {
    const clone = resolvePgBasebackup(b.pgBasebackup);
    return { env: clone.env, volumes: clone.ca ? [clone.ca.volume] : [], mounts: clone.ca ? [clone.ca.mount] : [] };
  }
  if (b?.import) {
    const imp = resolveImport(b.import, databases);
    return { env: imp.env, volumes: imp.ca ? [imp.ca.volume] : [], mounts: imp.ca ? [imp.ca.mount] : [] };
  }
  return { env: [], volumes: [], mounts: [] };
}
