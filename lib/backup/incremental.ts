import { FULL_EVERY, IncrementalSpec } from '../contract';
import { ValidationError } from '../validation';

/** Block-level incremental backups (`backup.incremental`). */
export interface IncrementalBackupProps {
  /**
   * How old the full backup of a chain may get: each scheduled backup stores only the pages changed since the
   * newest complete backup, unless the chain's full backup is older than this (or the chain is broken): then it
   * takes a full one. A number and a unit: h, d or w, e.g. `7d`.
   * @default '7d'
   */
  readonly fullEvery?: string;
}

/** Checks `backup.incremental` at synth; the spec the backup Job reads, or undefined when off. */
export function validateIncremental(prop: string, props: IncrementalBackupProps | undefined): IncrementalSpec | undefined {
  if (props === undefined) return undefined;
  const fullEvery = props.fullEvery ?? '7d';
  if (typeof fullEvery !== 'string' || !FULL_EVERY.test(fullEvery)) {
    throw new ValidationError(`${prop}.fullEvery`, `"${fullEvery}" is not a duration`, 'Write a whole number and a unit: h, d or w, e.g. "7d".');
  }
  return { fullEvery };
}
