/**
 * Finds a WAL file in the archive, whatever its compression (ours or barman-cloud's), and the segments that follow
 * it, with one ListObjectsV2: a lookup costs one request instead of a GET per possible extension, and the listing
 * says which segments are there to prefetch. S3 listings are strongly consistent (AWS since 2020, Ceph RGW), so a
 * name absent from the listing is absent from the archive.
 */
import { COMPRESSION_EXTENSION, Compression, s3Layout } from '../../../lib/contract';
import { ARCHIVED_WAL, HISTORY_NAME, SEGMENT_NAME, nextSegmentInLog, previousSegmentInLog } from '../postgres/wal';
import { AgentError } from '../common/errors';
import type { S3Bucket } from '../s3/bucket';
import { listAfter, listFolderPage } from '../s3/objects';
import { StoreConfig } from '../store/config';

export interface ArchivedWal {
  readonly name: string;
  readonly key: string;
  readonly compression: Compression;
  /** As listed: the MD5 of the stored bytes for a single-part upload (what the archiver does). */
  readonly etag: string;
}

export interface WalLookup {
  /** The file asked for; undefined when the archive does not have it. */
  readonly wal?: ArchivedWal;
  /** Up to `follow` segments right after it, consecutive, in order. */
  readonly next: ArchivedWal[];
  /** The segment after `next` when the listing shows that the archive does not have it. */
  readonly absent?: string;
  /**
   * When the file asked for (or `absent`) is missing: the first segment after it in the same folder that the
   * listing shows in the archive. Something after a missing segment means a hole, not the end of the archive.
   */
  readonly later?: string;
}

const KIND_OF_EXTENSION = new Map<string, Compression>(
  (Object.entries(COMPRESSION_EXTENSION) as Array<[Compression, string]>).map(([kind, ext]) => [ext, kind]),
);

export async function lookupWal(s3: S3Bucket, store: StoreConfig, name: string, follow: number): Promise<WalLookup> {
  const bare = s3Layout.walKey(store.prefix, store.serverName, name, 'none');
  const folder = bare.slice(0, bare.length - name.length);
  let listed;
  let complete = false; // true when the listing holds every key of the folder from `name` on
  if (SEGMENT_NAME.test(name) && follow > 0) {
    // Start right after the previous segment's keys (`<prev>~` sorts after `<prev>.gz` and before `<name>`).
    const prev = previousSegmentInLog(name);
    const maxKeys = 2 * (follow + 1) + 8;
    listed = await listAfter(s3, folder, prev ? `${folder}${prev}~` : undefined, maxKeys);
    complete = listed.length < maxKeys;
  } else {
    listed = await listAfter(s3, bare, undefined, 16);
  }
  // Group the keys by WAL file name: "<name>" plus a compression extension, if any.
  const variants = new Map<string, Array<{ key: string; ext: string; etag: string }>>();
  for (const o of listed) {
    const rest = o.key.slice(folder.length);
    const m = ARCHIVED_WAL.exec(rest);
    if (!m) continue;
    const list = variants.get(m[1]) ?? [];
    list.push({ key: o.key, ext: m[2] ?? '', etag: o.etag });
    variants.set(m[1], list);
  }
  const pick = (walName: string): ArchivedWal | undefined => {
    const all = variants.get(walName);
    if (!all) return undefined;
    const readable = all.filter(v => KIND_OF_EXTENSION.has(v.ext));
    if (readable.length === 0) {
      throw new AgentError(
        `the archive holds ${walName} only as ${all.map(v => v.key).join(', ')}, a compression this agent cannot read`,
        'Restore with barman-cloud-wal-restore (it reads bzip2 and snappy), or archive with gzip, zstd, lz4 or none.',
        { wal: walName },
      );
    }
    // Several copies (an archive written with several compressions over time): prefer the configured one.
    const v = readable.find(x => KIND_OF_EXTENSION.get(x.ext) === store.walCompression) ?? readable[0];
    return { name: walName, key: v.key, compression: KIND_OF_EXTENSION.get(v.ext)!, etag: v.etag };
  };
  const wal = pick(name);
  const next: ArchivedWal[] = [];
  let absent: string | undefined;
  const listedAfter = (n: string) => [...variants.keys()].filter(v => SEGMENT_NAME.test(v) && v > n).sort()[0];
  if (wal && SEGMENT_NAME.test(name)) {
    for (let n = nextSegmentInLog(name); n && next.length < follow; n = nextSegmentInLog(n)) {
      let w: ArchivedWal | undefined;
      try {
        w = pick(n);
      } catch {
        break; // unreadable: wal-fetch says so when PostgreSQL asks for it
      }
      if (!w) {
        // A gap or the end of the archive, if the listing reached past it; else only the end of this page.
        const last = listed[listed.length - 1]?.key.slice(folder.length) ?? '';
        if (complete || last > n) absent = n;
        break;
      }
      next.push(w);
    }
  }
  const missing = !wal ? name : absent;
  return { wal, next, absent, later: missing && SEGMENT_NAME.test(missing) ? listedAfter(missing) : undefined };
}

/**
 * The timeline history files in the archive (names without compression extension), from one listing of the wals/
 * folder with its subfolders folded; undefined when that listing does not fit in one page.
 */
export async function listHistoryFiles(s3: S3Bucket, store: StoreConfig): Promise<string[] | undefined> {
  const probe = s3Layout.walKey(store.prefix, store.serverName, '00000001.history', 'none');
  const folder = probe.slice(0, probe.length - '00000001.history'.length);
  const page = await listFolderPage(s3, folder);
  if (page.truncated) return undefined;
  const names = new Set<string>();
  for (const o of page.objects) {
    const m = /^([0-9A-F]{8}\.history)(\.[a-z0-9]+)?$/.exec(o.key.slice(folder.length));
    if (m && HISTORY_NAME.test(m[1])) names.add(m[1]);
  }
  return [...names].sort();
}
