import { ENV, PATHS, VERIFY_ENV, VerifyChecksSpec, VerifyReplay } from '../../../lib/contract';
import { jsonEnv, optionalEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { StoreConfig, readStoreConfig } from '../store/config';

export interface VerifyConfig {
  readonly store: StoreConfig;
  readonly checks: VerifyChecksSpec;
  readonly replay: VerifyReplay;
  /** Scratch directory: the restored data goes into `<scratch>/pgdata`, removed after the run. */
  readonly scratchDir: string;
  /** Directory for the scratch server's unix socket (it listens on no TCP port). */
  readonly socketDir: string;
  /** A backup id to drill instead of the newest complete one. */
  readonly backupId?: string;
}

export function readVerifyConfig(env: NodeJS.ProcessEnv, opts: { backupId?: string; replay?: string; scratch?: string } = {}): VerifyConfig {
  const checks = optionalEnv(VERIFY_ENV.checks, env) ? jsonEnv<VerifyChecksSpec>(VERIFY_ENV.checks, env) : { amcheck: true, tables: [] };
  if (typeof checks.amcheck !== 'boolean' || !Array.isArray(checks.tables)) {
    throw new AgentError(
      `environment variable ${VERIFY_ENV.checks} is not {amcheck, tables}`,
      'Re-synthesize the manifests; this variable is written by the RestoreDrill construct.',
    );
  }
  const replay = opts.replay ?? optionalEnv(VERIFY_ENV.replay, env) ?? 'latest';
  if (replay !== 'latest' && replay !== 'backup-end')
    throw new AgentError(`replay "${replay}" is not latest or backup-end`, 'Use --replay latest (all archived WAL) or --replay backup-end.');
  return {
    store: readStoreConfig(env),
    checks,
    replay,
    scratchDir: opts.scratch ?? requireEnv(VERIFY_ENV.scratchDir, env),
    socketDir: optionalEnv(ENV.socketDir, env) ?? PATHS.socketDir,
    backupId: opts.backupId,
  };
}
