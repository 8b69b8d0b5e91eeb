import { RetentionSpec } from '../contract';
import { ValidationError } from '../validation';

export const RECOVERY_WINDOW = /^[1-9][0-9]*[dwmy]$/;

/** Checks a retention policy at synth: a window like `90d` and/or whole GFS counts, at least one rule. */
export function validateRetention(prop: string, r: RetentionSpec): RetentionSpec {
  if (r.recoveryWindow !== undefined && !RECOVERY_WINDOW.test(r.recoveryWindow)) {
    throw new ValidationError(
      `${prop}.recoveryWindow`,
      `"${r.recoveryWindow}" is not a window`,
      'Write a number and a unit: d (days), w (weeks), m (months) or y (years), e.g. "90d" or "14d".',
    );
  }
  for (const key of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
    const v = r[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 10000)) {
      throw new ValidationError(`${prop}.${key}`, `${v} is not a whole number of backups`, 'Give a count between 0 and 10000, e.g. monthly: 6.');
    }
  }
  const any = r.recoveryWindow !== undefined || (['daily', 'weekly', 'monthly', 'yearly'] as const).some(k => (r[k] ?? 0) > 0);
  if (!any) throw new ValidationError(prop, 'keeps nothing', 'Set a recoveryWindow (e.g. "14d") and/or daily, weekly, monthly or yearly counts.');
  return r;
}
