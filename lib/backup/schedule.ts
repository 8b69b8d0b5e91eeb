import { k8s } from 'cdk8s-plus-28';
import { CronExpressionParser } from 'cron-parser';
import { ValidationError } from '../validation';

/**
 * Turns a backup schedule into the 5-field form Kubernetes CronJobs take. The 6-field form with seconds first,
 * which CloudNativePG's ScheduledBackup uses (`0 0 0 * * *` in the reference story), is read as CloudNativePG
 * reads it; its seconds field must be `0`, because a CronJob cannot start at a second.
 */
export function toCronJobSchedule(prop: string, schedule: string): string {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new ValidationError(
      prop,
      `"${schedule}" has ${fields.length} fields`,
      'Use 5 cron fields (minute hour day month weekday), e.g. "0 0 * * *", or CloudNativePG\'s 6 fields with seconds first, e.g. "0 0 0 * * *".',
    );
  }
  try {
    CronExpressionParser.parse(fields.join(' '), { strict: false });
  } catch (e) {
    throw new ValidationError(
      prop,
      `"${schedule}" is not a valid cron expression (${(e as Error).message})`,
      'Check each field\'s range, e.g. "30 2 * * *" for 02:30 daily.',
    );
  }
  if (fields.length === 6) {
    if (fields[0] !== '0') {
      throw new ValidationError(
        prop,
        `"${schedule}" starts at second "${fields[0]}"`,
        'Kubernetes CronJobs run at whole minutes: set the seconds field to 0 or use the 5-field form.',
      );
    }
    return fields.slice(1).join(' ');
  }
  return fields.join(' ');
}

/**
 * The CronJob settings every scheduled agent Job shares (backups, restore drills): UTC, never two runs at once, a
 * missed run (cluster down, controller restarted) still starts within the hour rather than days later, the last
 * three runs of each outcome kept for `kubectl logs`.
 */
export function scheduledJobSpec(schedule: string, jobTemplate: k8s.JobTemplateSpec): k8s.CronJobSpec {
  return {
    schedule,
    timeZone: 'Etc/UTC',
    concurrencyPolicy: 'Forbid',
    startingDeadlineSeconds: 3600,
    successfulJobsHistoryLimit: 3,
    failedJobsHistoryLimit: 3,
    jobTemplate,
  };
}
