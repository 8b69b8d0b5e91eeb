/**
 * Block-level incremental backups: which kind the next scheduled backup is, and which backups a restore of one of
 * them needs (its chain). Pure functions of the store's listing; table-tested in test/agent/decide-backup-chain.test.ts.
 * An incremental stores only the pages whose LSN is at or after its parent's start, so it is worth nothing without
 * every backup before it in its chain: a restore refuses a broken chain, naming the missing piece, and the next
 * backup after a broken chain is a full one.
 */

/** A backup of the store as the listing shows it: a full one (`base/<id>/`) or an incremental (`incremental/<id>/`). */
export interface ChainLink {
  readonly id: string;
  readonly kind: 'full' | 'incremental';
  /** barman's statuses; only DONE is complete. */
  readonly status: string;
  readonly beginTime: Date;
  readonly beginLsn: string;
  readonly timeline: number;
  readonly systemIdentifier: string;
  /** PostgreSQL version number, e.g. 150018. */
  readonly pgVersion: number;
  /** Which tool wrote it (`pg-agent`; barman-cloud's backups are not parents of ours). */
  readonly writer?: string;
  /** Incrementals: the backup whose start LSN the pages are compared with. */
  readonly parent?: string;
  /**
   * Full backups: whether it recorded its relation files (`relation-files.json`). An incremental on a full backup
   * needs the list to store a relation file new since then whole: its pages may carry LSNs older than the full's
   * start (CREATE DATABASE … STRATEGY FILE_COPY copies the template's pages as they are).
   */
  readonly listsRelationFiles?: boolean;
}

export interface BackupKindFacts {
  /** `backup.incremental.fullEvery` in ms; undefined: incrementals are off. */
  readonly fullEveryMs?: number;
  readonly now: Date;
  readonly links: readonly ChainLink[];
  /** The server about to be backed up. */
  readonly source: { readonly timeline: number; readonly systemIdentifier: string; readonly pgVersion: number };
}

export type BackupKind =
  | { readonly kind: 'full'; readonly why: string }
  | { readonly kind: 'incremental'; readonly why: string; readonly parent: ChainLink; readonly chain: readonly ChainLink[] };

export type ChainResolution =
  { readonly ok: true; readonly chain: readonly ChainLink[] } | { readonly ok: false; readonly missing: string; readonly why: string };

const major = (v: number) => Math.floor(v / 10000);

/**
 * The backups a restore of `id` applies, in order: its chain's full backup first, `id` last. Refused (with the
 * missing piece named) when a link is absent or not complete, or when a parent does not come before its child.
 */
export function resolveChain(links: readonly ChainLink[], id: string): ChainResolution {
  const byId = new Map(links.map(l => [`${l.kind}:${l.id}`, l]));
  const find = (i: string) => byId.get(`incremental:${i}`) ?? byId.get(`full:${i}`);
  const chain: ChainLink[] = [];
  let current = find(id);
  let wanted = id;
  let child: ChainLink | undefined;
  while (true) {
    if (!current) {
      return {
        ok: false,
        missing: wanted,
        why: child
          ? `backup ${wanted}, the parent of ${child.kind} backup ${child.id}, is not in the store`
          : `there is no backup ${wanted} in the store`,
      };
    }
    if (current.status !== 'DONE') {
      return {
        ok: false,
        missing: current.id,
        why: `${current.kind} backup ${current.id}${child ? `, a link of the chain of ${id},` : ''} is not complete (status ${current.status})`,
      };
    }
    if (child && current.beginTime.getTime() >= child.beginTime.getTime()) {
      return { ok: false, missing: current.id, why: `backup ${current.id} does not start before its child ${child.id}` };
    }
    if (chain.some(l => l.id === current!.id) || chain.length > 10000) return { ok: false, missing: current.id, why: `the chain of ${id} loops` };
    chain.unshift(current);
    if (current.kind === 'full') return { ok: true, chain };
    if (!current.parent) return { ok: false, missing: current.id, why: `incremental backup ${current.id} names no parent` };
    child = current;
    wanted = current.parent;
    current = find(current.parent);
  }
}

/**
 * Full or incremental: an incremental on the newest complete backup of this server, unless incrementals are off,
 * there is no complete backup of ours yet, the newest one's chain is broken, it is of another timeline, system or
 * major version, or the chain's full backup is `fullEvery` old.
 */
export function decideBackupKind(f: BackupKindFacts): BackupKind {
  if (f.fullEveryMs === undefined) return { kind: 'full', why: 'incremental backups are off' };
  const ours = f.links
    .filter(l => l.status === 'DONE' && l.writer === 'pg-agent' && l.systemIdentifier === f.source.systemIdentifier)
    .sort((a, b) => a.beginTime.getTime() - b.beginTime.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const newest = ours[ours.length - 1];
  if (!newest) return { kind: 'full', why: 'no complete backup of this database to build on' };
  const resolved = resolveChain(f.links, newest.id);
  if (!resolved.ok) return { kind: 'full', why: `the newest backup's chain is broken: ${resolved.why}` };
  const full = resolved.chain[0];
  if (newest.timeline !== f.source.timeline)
    return { kind: 'full', why: `the newest backup ${newest.id} is of timeline ${newest.timeline}, the server is on ${f.source.timeline}` };
  if (major(newest.pgVersion) !== major(f.source.pgVersion))
    return {
      kind: 'full',
      why: `the newest backup ${newest.id} is of PostgreSQL ${major(newest.pgVersion)}, the server runs ${major(f.source.pgVersion)}`,
    };
  if (newest.kind === 'full' && !newest.listsRelationFiles)
    return {
      kind: 'full',
      why: `the newest backup ${newest.id} is a full backup that did not record its relation files (before incrementals were on, or by an older agent): an incremental on it could miss a new database's pages`,
    };
  const age = f.now.getTime() - full.beginTime.getTime();
  if (age >= f.fullEveryMs) return { kind: 'full', why: `the chain's full backup ${full.id} is older than fullEvery` };
  return { kind: 'incremental', why: `pages changed since ${newest.id} (chain of ${resolved.chain.length})`, parent: newest, chain: resolved.chain };
}
