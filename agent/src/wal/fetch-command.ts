/**
 * `pg-agent wal-fetch <name> <target>`: PostgreSQL's restore_command. Finds the WAL file in the store whatever its
 * compression (ours or barman-cloud's), writes it next to the target and renames it into place, so PostgreSQL
 * never reads a partial file. Exit 1 when the file is not in the archive (normal at the end of recovery).
 */
import * as fs from 'fs';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { COMPRESSION_EXTENSION, Compression, WAL_FILE, s3Layout } from '../../../lib/contract';
import { log } from '../common/log';
import { S3Bucket, createS3Client } from '../s3/client';
import { getObject } from '../s3/objects';
import { StoreConfig, readStoreConfig } from '../store/config';
import { readRecoveryConfig } from '../restore/recovery';
import { decompressStream } from '../store/compression';

export async function walFetchCommand(name: string, target: string, opts: { recoverySource?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (!WAL_FILE.test(name)) {
    log.error({ wal: name }, `wal-fetch: ${name} is not a WAL file name`);
    return 1;
  }
  // During bootstrap by recovery the WAL comes from the source cluster's folder, not this cluster's own.
  const store = opts.recoverySource ? readRecoveryConfig(env).source : readStoreConfig(env);
  const s3 = createS3Client(store.s3);
  try {
    return await fetchInto(s3, store, name, target);
  } catch (e) {
    // Not "missing": an error. Above 125 PostgreSQL stops recovery instead of taking the archive for finished,
    // which would end a point-in-time recovery early. The agent restarts postgres, which asks again.
    log.error({ wal: name, err: (e as Error).message, fix: 'Check the S3 store; recovery resumes when it answers.' }, 'wal-fetch failed');
    return 255;
  } finally {
    s3.destroy();
  }
}

async function fetchInto(s3: S3Bucket, store: StoreConfig, name: string, target: string): Promise<number> {
  {
    // Try the configured compression first, then the others (an archive may hold files of several eras).
    const order = [store.walCompression, ...(Object.keys(COMPRESSION_EXTENSION) as Compression[]).filter(c => c !== store.walCompression)];
    for (const kind of order) {
      const key = s3Layout.walKey(store.prefix, store.serverName, name, kind);
      const obj = await getObject(s3, key);
      if (!obj) continue;
      const tmp = path.join(path.dirname(target), `.${path.basename(target)}.fetching`);
      await pipeline(obj.body, decompressStream(kind), fs.createWriteStream(tmp, { mode: 0o600 }));
      fs.renameSync(tmp, target);
      log.info({ wal: name, key }, 'restored WAL file');
      return 0;
    }
    log.info({ wal: name }, 'WAL file not in the archive');
    return 1;
  }
}
