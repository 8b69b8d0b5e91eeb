import { AgentError } from './errors';

/** Reads a required environment variable of the contract, or fails naming it. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new AgentError(
      `environment variable ${name} is missing`,
      'The manifest sets it; run the agent with the environment the synthesized manifest gives (re-synth and re-apply if it was edited by hand).',
      { variable: name },
    );
  }
  return value;
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
