/** What `bootstrap.import` gives the instance: the source, the choices, the password (by secretKeyRef). */
import { IMPORT_DEFAULTS, IMPORT_ENV, IMPORT_ROLES, ImportSpec } from '../../../lib/contract';
import { jsonEnv, optionalEnv } from '../common/env';
import { AgentError } from '../common/errors';

export interface ImportConfig {
  readonly spec: ImportSpec;
  readonly password: string;
}

export function readImportConfig(env: NodeJS.ProcessEnv): ImportConfig | undefined {
  if (optionalEnv(IMPORT_ENV.spec, env) === undefined) return undefined;
  const spec = jsonEnv<ImportSpec>(IMPORT_ENV.spec, env);
  const s = spec?.source;
  if (
    typeof s?.host !== 'string' ||
    !Number.isInteger(s.port) ||
    typeof s.user !== 'string' ||
    !IMPORT_ROLES.includes(spec.roles) ||
    !Number.isInteger(spec.jobs) ||
    spec.jobs < 1 ||
    spec.jobs > IMPORT_DEFAULTS.maxJobs ||
    (spec.databases !== undefined && !Array.isArray(spec.databases))
  ) {
    throw new AgentError(
      `environment variable ${IMPORT_ENV.spec} is not a {source, databases?, roles, jobs} object`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  const password = optionalEnv(IMPORT_ENV.password, env);
  if (password === undefined)
    throw new AgentError(
      `the password for the import source (environment variable ${IMPORT_ENV.password}) is missing`,
      "Create the Secret named in bootstrap.import.passwordSecret with the source role's password, then restart the pod.",
      { variable: IMPORT_ENV.password },
    );
  return { spec, password };
}
