/**
 * Restores an incremental backup: its chain (the full backup, then each incremental in order) into one directory.
 * Before anything is written, every link is checked: its metadata is in the store and complete, its parent is
 * there, and each incremental's data and manifest are present with the size and SHA-256 it recorded (they are
 * small: read once for the check). The full backup's tar is checked as it is restored (restoreBaseBackup).
 * Applying an incremental: stored pages go to blockno x 8192, files are cut or extended to the size the source
 * had, files and directories the source no longer had are removed. The last incremental's backup_label is what
 * recovery starts from; recovery then replays the WAL from there (wal-fetch).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Transform, TransformCallback, pipeline } from 'stream';
import { PAGE_SIZE, incrementalLayout } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { S3Bucket } from '../s3/client';
import { headObject } from '../s3/objects';
import { StoreConfig } from '../store/config';
import { Slice } from '../store/chunks';
import { decompressStream } from '../store/compression';
import { ChainLink, resolveChain } from '../decide/backup-chain';
import { rangedObjectStream } from '../restore/ranged-read';
import type { RestoreOptions, RestoreResult } from '../restore/base-backup';
import { IncrementalInfo, incrementalAsBackupInfo, listChainLinks, readManifest } from './catalog';
import { IncrementalManifest } from './filter';
import { ByteReader, MAGIC, readHead, readPage } from './records';

const damaged = 'The chain cannot be restored: restore an older backup whose chain is whole (`pg-agent list`), or take a new full backup.';

/** Counts and hashes what goes by. */
class Hasher extends Transform {
  readonly sha256 = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.sha256.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

interface CheckedLink {
  info: IncrementalInfo;
  manifest: IncrementalManifest;
  dataKey: string;
}

/** The chain of `backupId` and its incrementals checked; throws naming the missing or damaged piece. */
export async function checkChain(
  s3: S3Bucket,
  store: StoreConfig,
  backupId: string,
): Promise<{ chain: readonly ChainLink[]; incrementals: CheckedLink[] }> {
  const { links, incrementals } = await listChainLinks(s3, store);
  const resolved = resolveChain(links, backupId);
  if (!resolved.ok) {
    // Name the object when the listing found a link without its data or manifest.
    const lost = incrementals.find(i => i.backupId === resolved.missing && i.status === 'MISSING_DATA');
    const keys =
      lost && [lost.dataKey, 'manifest.json'].map(n => incrementalLayout.dir(store.prefix, store.serverName, lost.backupId) + n).join(' or ');
    throw new AgentError(`cannot restore ${backupId}: the chain is broken: ${resolved.why}${keys ? ` (${keys} is missing)` : ''}`, damaged, {
      backupId,
      missing: resolved.missing,
    });
  }
  const byId = new Map(incrementals.map(i => [i.backupId, i]));
  const checked: CheckedLink[] = [];
  for (const link of resolved.chain.slice(1)) {
    const info = byId.get(link.id)!;
    const dir = incrementalLayout.dir(store.prefix, store.serverName, link.id);
    const manifestKey = incrementalLayout.manifest(store.prefix, store.serverName, link.id);
    const m = await readManifest(s3, manifestKey);
    if (!m)
      throw new AgentError(`cannot restore ${backupId}: ${manifestKey} (of incremental ${link.id}) is missing`, damaged, { missing: manifestKey });
    if (m.raw.length !== info.manifestSize || createHash('sha256').update(m.raw).digest('hex') !== info.manifestSha256)
      throw new AgentError(`cannot restore ${backupId}: ${manifestKey} does not match its checksum`, damaged, { missing: manifestKey });
    const dataKey = dir + info.dataKey;
    const head = await headObject(s3, dataKey);
    if (!head) throw new AgentError(`cannot restore ${backupId}: ${dataKey} (of incremental ${link.id}) is missing`, damaged, { missing: dataKey });
    if (head.size !== info.dataSize)
      throw new AgentError(`cannot restore ${backupId}: ${dataKey} has ${head.size} bytes, ${info.dataSize} were stored`, damaged, {
        missing: dataKey,
      });
    const hasher = new Hasher();
    await new Promise<void>((resolve, reject) => {
      const body = rangedObjectStream(s3, dataKey, head.size);
      pipeline(body, hasher, err => (err ? reject(err) : resolve()));
      hasher.resume();
    });
    if (hasher.sha256.digest('hex') !== info.dataSha256)
      throw new AgentError(`cannot restore ${backupId}: ${dataKey} does not match its checksum`, damaged, { missing: dataKey });
    checked.push({ info, manifest: m.manifest, dataKey });
  }
  return { chain: resolved.chain, incrementals: checked };
}

/** Resolves a path of the backup inside `root`, refusing anything that would land outside it. */
function inside(root: string, name: string): string {
  const abs = path.resolve(root, name);
  if (path.isAbsolute(name) || name.split('/').includes('..') || !abs.startsWith(root + path.sep))
    throw new AgentError(`the incremental backup holds a path outside the data directory ("${name}"); refusing`, damaged);
  return abs;
}

/** Applies one incremental's data to a directory that holds its parent's restore. */
export async function applyIncremental(body: Readable, manifest: IncrementalManifest, rootDir: string): Promise<{ files: number; pages: number }> {
  const root = path.resolve(rootDir);
  const r = new ByteReader(body as AsyncIterable<Buffer>);
  if (!(await r.read(MAGIC.length)).equals(MAGIC)) throw new AgentError('the incremental backup data does not start with its format mark', damaged);
  const seen = new Set<string>();
  let pages = 0;
  while (true) {
    const h = await readHead(r);
    if (h.type === 'E') break;
    const dest = inside(root, h.name);
    seen.add(h.name);
    if (h.type === 'D') {
      await fs.promises.mkdir(dest, { recursive: true, mode: h.mode || 0o700 });
    } else if (h.type === 'L') {
      await fs.promises.rm(dest, { force: true, recursive: false }).catch(() => undefined);
      await fs.promises.symlink(h.target, dest);
    } else {
      await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
      const exists = fs.existsSync(dest);
      const fh = await fs.promises.open(dest, h.type === 'F' || !exists ? 'w' : 'r+', h.mode || 0o600);
      try {
        if (h.type === 'F') {
          let left = h.size;
          while (left > 0) {
            const part = await r.readSome(Math.min(left, 1024 * 1024));
            await fh.write(part);
            left -= part.length;
          }
        } else {
          let stored = 0;
          for (let p = await readPage(r); p; p = await readPage(r)) {
            await fh.write(p.page, 0, PAGE_SIZE, p.blockNo * PAGE_SIZE);
            stored++;
          }
          pages += stored;
          // A relation file the parent did not have must come whole: a page left out would be zeros here.
          if (!exists && stored * PAGE_SIZE < h.size)
            throw new AgentError(
              `${h.name} is new since the parent backup, but the incremental stored only ${stored} of its ${h.size / PAGE_SIZE} pages (a database created with STRATEGY FILE_COPY after the full backup?); refusing to restore it`,
              "Restore the chain's full backup or an older backup to a point in time after it (its WAL has the change), and take a full backup now.",
              { file: h.name },
            );
          await fh.truncate(h.size);
        }
      } finally {
        await fh.close();
      }
    }
  }
  const listed = new Set([...manifest.files.map(f => f.path), ...manifest.directories.map(d => d.path), ...manifest.symlinks.map(l => l.path)]);
  if (listed.size !== seen.size || [...seen].some(n => !listed.has(n)))
    throw new AgentError('the incremental backup data and its manifest list different files', damaged);
  // What the source no longer had: files first, then directories that are left empty (deepest first).
  const stale: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const relName = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && !e.isSymbolicLink()) {
        walk(path.join(dir, e.name), relName);
        if (!listed.has(relName) && !relName.startsWith('pg_wal')) stale.push(relName);
      } else if (!listed.has(relName) && !relName.startsWith('pg_wal/')) {
        fs.rmSync(path.join(dir, e.name), { force: true });
      }
    }
  };
  walk(root, '');
  for (const d of stale) {
    try {
      fs.rmdirSync(path.join(root, d)); // only when empty: a directory the source no longer had holds nothing it had
    } catch {
      // not empty: keep it
    }
  }
  return { files: manifest.files.length, pages };
}

/**
 * Restores incremental `backupId` (its whole chain) into `targetDir`; `restoreFull` is restoreBaseBackup (passed
 * in, so that the two modules do not import each other).
 */
export async function restoreChain(
  s3: S3Bucket,
  store: StoreConfig,
  backupId: string,
  targetDir: string,
  opts: RestoreOptions,
  restoreFull: (s3: S3Bucket, store: StoreConfig, id: string, dir: string, opts: RestoreOptions) => Promise<RestoreResult>,
): Promise<RestoreResult> {
  const started = Date.now();
  const { chain, incrementals } = await checkChain(s3, store, backupId);
  const full = await restoreFull(s3, store, chain[0].id, targetDir, opts);
  let pages = 0;
  try {
    for (const link of incrementals) {
      const hasher = new Hasher();
      const size = link.info.dataSize;
      const body = pipeline(
        rangedObjectStream(s3, link.dataKey, size),
        hasher,
        new Slice(),
        decompressStream(link.info.compression),
        () => undefined,
      );
      const applied = await applyIncremental(body, link.manifest, targetDir);
      if (hasher.bytes !== size || hasher.sha256.digest('hex') !== link.info.dataSha256)
        throw new AgentError(`${link.dataKey} changed while it was restored (checksum)`, 'Retry the restore.', { key: link.dataKey });
      pages += applied.pages;
      log.info({ backupId: link.info.backupId, parent: link.info.parent, pages: applied.pages }, 'applied an incremental backup');
    }
    fs.mkdirSync(path.join(targetDir, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    fs.chmodSync(targetDir, 0o700);
  } catch (e) {
    fs.rmSync(targetDir, { recursive: true, force: true });
    throw e;
  }
  const last = incrementals[incrementals.length - 1].info;
  const seconds = (Date.now() - started) / 1000;
  log.info(
    { backupId, chain: chain.map(l => l.id), pages, seconds: Number(seconds.toFixed(1)) },
    'incremental chain restored (recovery fetches the WAL)',
  );
  return { ...full, backup: incrementalAsBackupInfo(last), bytes: last.size, seconds };
}
