/**
 * Parameter names checked at synth against the major's real list (postgres-parameter-names.ts, generated from the
 * servers themselves): a misspelt name would otherwise pass synth and then stop postgres from starting.
 */
import { ValidationError } from '../validation';
import { POSTGRES_PARAMETER_NAMES } from './postgres-parameter-names';

/**
 * The names a major accepts. A major whose server the generator could not run (16: no Debian package nor npm
 * build on the test machines) gets the union of its neighbours' lists: every parameter of 15 that 17 still has
 * exists in 16, and a 17-only name that 16 lacks passes synth and is caught by the agent's check before it writes
 * postgresql.conf (the value is not applied, postgres keeps running).
 */
export function parameterNames(major: number): ReadonlySet<string> {
  const own = POSTGRES_PARAMETER_NAMES[String(major)];
  const lists = own ? [own] : [POSTGRES_PARAMETER_NAMES[String(major - 1)] ?? [], POSTGRES_PARAMETER_NAMES[String(major + 1)] ?? []];
  return new Set(lists.flat().map(n => n.toLowerCase()));
}

/** Throws a ValidationError naming `parameters.<name>` and the closest real name when `name` is not a parameter of `major`. */
export function checkParameterName(name: string, major: number): void {
  // Custom options of extensions (`pg_stat_statements.max`, `auto_explain.log_min_duration`) are free-form.
  if (name.includes('.')) return;
  const known = parameterNames(major);
  if (known.has(name.toLowerCase())) return;
  const guess = closest(name.toLowerCase(), known);
  throw new ValidationError(
    `parameters.${name}`,
    `is not a parameter of PostgreSQL ${major} (postgres would refuse to start)`,
    guess
      ? `Did you mean ${guess}? Fix the name, or remove it.`
      : 'Check the name in the PostgreSQL documentation ("Server Configuration"), or remove it.',
  );
}

/** The known name nearest to `name` by edit distance, when it is near enough to be a typo. */
function closest(name: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of [...known].sort()) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}
