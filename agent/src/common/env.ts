import { AgentError } from './errors';

/**
 * The fix of a variable the manifests always write but the pod lacks: the agent does not guess a default (it could
 * differ from what the constructs would have rendered), so the manifest is out of date or was edited.
 */
export const MANIFEST_OUT_OF_DATE_FIX =
  "The manifest always sets it: this pod's manifest is out of date or was edited by hand. Re-synthesize with the constructs of this agent's version and re-apply.";

/** Reads a required environment variable of the contract, or fails naming it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new AgentError(`environment variable ${name} is missing`, MANIFEST_OUT_OF_DATE_FIX, { variable: name });
  }
  return value;
}

/** Reads a variable the manifest always writes but may leave empty (e.g. an empty S3 prefix), failing when absent. */
export function presentEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined) throw new AgentError(`environment variable ${name} is missing`, MANIFEST_OUT_OF_DATE_FIX, { variable: name });
  return value;
}

/** Reads a `true`/`false` variable of the contract (required), failing on anything else. */
export function boolEnv(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = requireEnv(name, env);
  if (raw !== 'true' && raw !== 'false') {
    throw new AgentError(
      `environment variable ${name}="${raw}" is not true or false`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
      {
        variable: name,
      },
    );
  }
  return raw === 'true';
}

/** Reads a required integer within `min..max`, failing with the variable's name and the range. */
export function rangedIntEnv(name: string, range: { min: number; max?: number }, env: NodeJS.ProcessEnv = process.env): number {
  const raw = requireEnv(name, env);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < range.min || (range.max !== undefined && n > range.max)) {
    throw new AgentError(
      `environment variable ${name}="${raw}" is not a whole number ${range.max === undefined ? `of at least ${range.min}` : `in ${range.min}..${range.max}`}`,
      'Re-synthesize the manifests; this variable is written by the constructs (and checked at synth).',
      { variable: name },
    );
  }
  return n;
}

export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Parses a JSON environment variable, failing with the variable's name. */
export function jsonEnv<T>(name: string, env: NodeJS.ProcessEnv = process.env): T {
  const raw = requireEnv(name, env);
  try {
    return JSON.parse(raw) as T;
  } catch (e) {
    throw new AgentError(
      `environment variable ${name} is not valid JSON (${(e as Error).message})`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
      { variable: name },
    );
  }
}

/** Parses a port or other positive integer from the environment. */
export function intEnv(name: string, env: NodeJS.ProcessEnv = process.env, fallback?: number): number {
  const raw = fallback === undefined ? requireEnv(name, env) : (optionalEnv(name, env) ?? String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new AgentError(
      `environment variable ${name}="${raw}" is not a positive integer`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
      { variable: name },
    );
  }
  return n;
}
