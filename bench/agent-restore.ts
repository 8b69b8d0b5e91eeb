/**
 * The agent's restore of a base backup (agent/src/restore/base-backup.ts: parallel ranged GETs, streamed
 * decompression and unpacking, checksum verified), as a command: `bench-restore <backupId> <targetDir>`, with the
 * store environment of the manifests (BACKUP_ENV). The agent has no `restore` command of its own yet (the instance
 * will call the same function for bootstrap.recovery); the bench bundles this file the way agent/build.mjs bundles
 * the agent, so that it runs as a process with the same code and dependencies.
 */
import { createS3Client } from '../agent/src/s3/client';
import { readStoreConfig } from '../agent/src/store/config';
import { restoreBaseBackup } from '../agent/src/restore/base-backup';

async function main(): Promise<number> {
  const [backupId, target] = process.argv.slice(2);
  if (!backupId || !target) {
    process.stderr.write('usage: bench-restore <backupId> <targetDir>\n');
    return 2;
  }
  const store = readStoreConfig(process.env);
  const s3 = createS3Client(store.s3);
  try {
    const r = await restoreBaseBackup(s3, store, backupId, target);
    process.stdout.write(JSON.stringify({ backupId, files: r.files, bytes: r.bytes, seconds: r.seconds, objects: r.objects }) + '\n');
    return 0;
  } finally {
    s3.destroy();
  }
}

main().then(
  code => {
    process.exitCode = code;
  },
  e => {
    process.stderr.write(`bench-restore failed: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
