#!/usr/bin/env node
/**
 * pg-agent: one binary, several commands (see DESIGN.md). Each command lives in its own folder; this file only
 * parses the command line and turns an AgentError into one clear log line and a non-zero exit.
 */
import { Command } from 'commander';
import { log } from './common/log';
import { AgentError } from './common/errors';
import { MALLOC_MMAP_THRESHOLD_ENV } from '../../lib/contract/env';
import { loadSecretFile } from './common/secret-env';

// glibc read its malloc tunable at start (set for the agent in the manifests); PostgreSQL and the tools it runs
// keep glibc's defaults.
delete process.env[MALLOC_MMAP_THRESHOLD_ENV];
// The instance's V8 flags (--jitless: memory over speed) are for its own long-lived process; the commands it starts
// (wal-push, wal-fetch, a base backup after a promotion) run with node's defaults.
delete process.env.NODE_OPTIONS;
// Started by PostgreSQL (wal-fetch, wal-push)? Its environment has no secrets: they come from the instance's 0600 file.
loadSecretFile(process.env);

// pg tells a Cloudflare Worker from node by `navigator.userAgent`; without a `navigator` (node < 21) it constructs a
// `Response`, which loads node's fetch implementation (undici): about 4 MiB of an idle agent's memory for nothing.
// Node 21+ (the image runs 22) has this global itself.
(globalThis as { navigator?: { userAgent: string } }).navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };

// Node prints process warnings (e.g. the AWS SDK's Node version notice) as plain text; keep the log one JSON per line.
process.removeAllListeners('warning');
process.on('warning', w => log.warn({ warning: w.name }, w.message));

const program = new Command('pg-agent')
  .description('cdk8s-postgres agent: runs PostgreSQL instances, backups and restores inside Kubernetes pods')
  .showHelpAfterError();

/** Registers a command whose implementation module is loaded only when it runs (fast start for wal-push). */
export function run(action: () => Promise<number | void>): Promise<void> {
  return action().then(
    code => {
      process.exitCode = code ?? 0;
    },
    (err: unknown) => {
      if (err instanceof AgentError) {
        log.error({ ...err.fields, fix: err.fix }, err.message);
        process.exitCode = 2;
      } else {
        log.fatal({ err }, 'unexpected failure');
        process.exitCode = 1;
      }
    },
  );
}

program
  .command('instance')
  .description('PID 1 of a Postgres pod: bootstrap, configure, supervise, serve health')
  .action(() => run(async () => (await import('./instance/command')).instanceCommand()));

program
  .command('wal-push')
  .argument('<path>', 'WAL file, relative to PGDATA (%p)')
  .description("archive_command: hand a WAL file to the instance's archiver; exit 0 once it is durable in S3")
  .action((walPath: string) => run(async () => (await import('./wal/push-command')).walPushCommand(walPath)));

program
  .command('wal-fetch')
  .argument('<name>', 'WAL file name (%f)')
  .argument('<target>', 'where to write it (%p)')
  .option('--recovery-source', "read from the store of bootstrap.recovery instead of the cluster's own")
  .option(
    '--standby',
    'a streaming replica\'s restore_command: a failure answers "not there" (exit 1), so the replica goes back to streaming instead of aborting',
  )
  .description('restore_command: fetch a WAL file from the backup store; exit 1 when it does not exist')
  .action((name: string, target: string, o: { recoverySource?: boolean; standby?: boolean }) =>
    run(async () => {
      const fetch = (await import('./wal/fetch-command')).walFetchCommand(name, target, o);
      // A replica's startup process ends (and postgres with it) on an exit above 125: an S3 outage must not do that.
      return o.standby
        ? fetch.then(
            code => (code === 0 ? 0 : 1),
            () => 1,
          )
        : fetch;
    }),
  );

program
  .command('switchover')
  .description('planned switchover: make <pod> the primary, without losing a committed row')
  .requiredOption('--to <pod>', 'the replica pod to promote')
  .option('--wait', 'wait for the outcome (the default)')
  .option('--no-wait', 'return once requested, without waiting for the outcome (the default waits, and exits 1 when the switchover did not happen)')
  .option('--timeout <seconds>', 'how long to wait for the outcome', '120')
  .action((o: { to: string; wait?: boolean; timeout: string }) =>
    run(async () => (await import('./instance/switchover-command')).switchoverCommand(o.to, { wait: o.wait, timeoutSeconds: Number(o.timeout) })),
  );

program
  .command('secrets')
  .description('create the missing credentials Secrets of a cluster (never overwrites)')
  .action(() => run(async () => (await import('./secrets/command')).secretsCommand()));

program
  .command('retention')
  .description('apply the retention policy: remove the backups no rule keeps and the WAL no kept backup needs')
  .option('--dry-run', 'print the plan, delete nothing')
  .option('--json', 'print the report as JSON on stdout')
  .option('--grace <duration>', 'keep incomplete backups younger than this (e.g. 90m, 36h, 2d)', '24h')
  .action((opts: { dryRun?: boolean; json?: boolean; grace?: string }) =>
    run(async () => (await import('./retention/command')).retentionCommand(opts)),
  );

program
  .command('canary')
  .description('restore canary: a small web app that writes test records on a button press and shows them back with a checksum verdict')
  .action(() => run(async () => (await import('./canary/command')).canaryCommand()));

program
  .command('backup')
  .description('take a base backup into the store (streamed, compressed, metadata last), then apply retention')
  .action(() => run(async () => (await import('./basebackup/command')).backupCommand()));

program
  .command('list')
  .description("list the backups in the store (ours and barman-cloud's), oldest first")
  .option('--json', 'print a JSON array on stdout')
  .option('--logical', 'list the logical backups (per-database dumps) only')
  .action((opts: { json?: boolean; logical?: boolean }) => run(async () => (await import('./catalog/list-command')).listCommand(opts)));

program
  .command('verify')
  .description('prove that a backup restores: restore it into scratch space, replay WAL, run pg_amcheck and row-count checks, print a JSON report')
  .option('--backup <id>', 'the backup to verify (default: the newest complete one)')
  .option('--replay <mode>', '"latest" (all archived WAL) or "backup-end" (default: PGC_VERIFY_REPLAY, else latest)')
  .option('--scratch <dir>', 'an empty directory with room for the restored data (default: PGC_VERIFY_SCRATCH)')
  .action((opts: { backup?: string; replay?: string; scratch?: string }) => run(async () => (await import('./verify/command')).verifyCommand(opts)));

program
  .command('status')
  .description('one screen about the cluster: primary, replicas and their lag, Lease, archiving, backups, recoverable range, restore drill')
  .option('-o, --output <format>', '"json" for the same fields as JSON (default: the screen)')
  .action((opts: { output?: string }) => run(async () => (await import('./status/command')).statusCommand(opts)));

program
  .command('logical-backup')
  .description('dump each database with pg_dump -Fc into the store (logical/<db>/<id>.dump, metadata last), then apply their retention')
  .action(() => run(async () => (await import('./logical/backup-command')).logicalBackupCommand()));

program
  .command('restore-database')
  .argument('<database>', 'the database whose logical backup to restore')
  .requiredOption('--from <backup>', 'a backup id (pg-agent list --logical), "latest", or a time: the newest dump that ended by then')
  .option('--into <name>', 'the database to restore into (default: <database>_restored_<backup id>)')
  .option('--overwrite', 'replace the target database if it exists and is empty (it is renamed aside, kept)')
  .option('--discard-existing-data', 'with --overwrite: replace the target even if it holds data (it is renamed aside, kept)')
  .description('restore one database from its logical backup into the running primary, into a new database by default')
  .action((database: string, o: { from: string; into?: string; overwrite?: boolean; discardExistingData?: boolean }) =>
    run(async () => (await import('./logical/restore-command')).restoreDatabaseCommand(database, o)),
  );

program.parseAsync(process.argv).catch(err => {
  log.fatal({ err }, 'command line');
  process.exitCode = 1;
});
