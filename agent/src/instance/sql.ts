/**
 * SQL the agent runs against its own instance over the unix socket, as the superuser.
 */
import { Client, ClientConfig } from 'pg';
import { REPLICATION_USER, SUPERUSER } from '../../../lib/contract';
import { log } from '../common/log';
import { InstanceConfig } from './config';
import { slotName } from './config-files';
import { scramVerifier } from './scram';

/**
 * The agent's own connection: the superuser on the pod's private socket, by peer authentication (pg_hba.conf maps
 * the agent's OS user to `postgres`), so it needs no password and a superuser password rotation cannot lock it out.
 */
export function localConnection(cfg: InstanceConfig, database = 'postgres'): ClientConfig {
  return { host: cfg.socketDir, port: cfg.port, user: SUPERUSER, database, connectionTimeoutMillis: 3000 };
}

export async function withClient<T>(conn: ClientConfig, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client(conn);
  client.on('error', () => {
    /* a dropped connection surfaces through the pending query */
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const ident = (c: Client, name: string) => c.escapeIdentifier(name);

/** Ensures a login role with the given password (the Secret is the source of truth: it is re-applied each start). */
async function ensureRole(c: Client, name: string, password: string, extra = ''): Promise<void> {
  const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount! > 0;
  const verifier = c.escapeLiteral(scramVerifier(password));
  await c.query(`${exists ? 'ALTER' : 'CREATE'} ROLE ${ident(c, name)} WITH LOGIN ${extra} PASSWORD ${verifier}`);
}

/**
 * Makes the primary match the manifest: passwords, the replication role, every declared database owned by its
 * role and closed to everyone else, and a replication slot for each other instance. Idempotent; never drops.
 */
export async function reconcilePrimary(cfg: InstanceConfig): Promise<void> {
  await withClient(localConnection(cfg), async c => {
    // These changes are re-applied by whichever instance is primary, so they need not wait for a replica: with
    // synchronous replication and no replica up, they would otherwise wait forever and the primary never be ready.
    await c.query('SET synchronous_commit = local');
    // A write freeze by `parameters: { default_transaction_read_only: 'on' }` (docs/major-upgrade.md) is for the apps.
    await c.query('SET default_transaction_read_only = off');
    await c.query(`ALTER ROLE ${ident(c, SUPERUSER)} WITH PASSWORD ${c.escapeLiteral(scramVerifier(cfg.credentials.superuser))}`);
    await ensureRole(c, REPLICATION_USER, cfg.credentials.replication, 'REPLICATION');
    for (const db of cfg.databases) {
      await ensureRole(c, db.owner, cfg.credentials.database(db));
      const exists = (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name])).rowCount! > 0;
      if (!exists) {
        await c.query(`CREATE DATABASE ${ident(c, db.name)} OWNER ${ident(c, db.owner)}`);
        log.info({ database: db.name, owner: db.owner }, 'created database');
      } else {
        await c.query(`ALTER DATABASE ${ident(c, db.name)} OWNER TO ${ident(c, db.owner)}`);
      }
      // Apps sharing a cluster must not reach each other's databases.
      await c.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(c, db.name)} FROM PUBLIC`);
      await c.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${ident(c, db.name)} TO ${ident(c, db.owner)}`);
    }
    for (let i = 0; i < cfg.instances; i++) {
      if (i === cfg.ordinal) continue;
      const slot = slotName(cfg.cluster, i);
      // Not reserving WAL until the replica first connects: a replica that never comes must not fill the disk.
      await c.query(
        'SELECT pg_create_physical_replication_slot($1, false) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)',
        [slot],
      );
    }
  });
}

/**
 * Slots are created without reserving WAL (see above); the reservation a replica's first connection makes lives in
 * memory until the next checkpoint, and a crash of the primary before that would let it remove WAL the replica still
 * needs (the replica could then never follow again). A checkpoint as soon as a slot first holds WAL makes the
 * reservation survive a crash. `persisted` remembers the slots done; returns the ones newly persisted.
 */
export async function persistSlotReservations(cfg: InstanceConfig, persisted: Set<string>): Promise<string[]> {
  return withClient(localConnection(cfg), async c => {
    const holding = (await c.query('SELECT slot_name FROM pg_replication_slots WHERE restart_lsn IS NOT NULL')).rows.map(r => String(r.slot_name));
    const fresh = holding.filter(s => !persisted.has(s));
    if (!fresh.length) return [];
    await c.query('CHECKPOINT');
    for (const s of fresh) persisted.add(s);
    log.info({ slots: fresh }, 'replication slots now hold WAL for their replicas: checkpointed, so a crash cannot lose the reservation');
    return fresh;
  });
}

export async function reloadConfig(cfg: InstanceConfig): Promise<void> {
  await withClient(localConnection(cfg), c => c.query('SELECT pg_reload_conf()'));
}

/** Promotes this replica and waits until it accepts writes. */
export async function promote(cfg: InstanceConfig): Promise<void> {
  await withClient(localConnection(cfg), async c => {
    const r = await c.query('SELECT pg_promote(true, 60) AS ok');
    if (!r.rows[0].ok) throw new Error('pg_promote did not finish within 60 s');
    // Promotion does not wait for a checkpoint; until one runs, pg_control still names the old timeline and
    // pg_rewind of the former primary would wrongly find "no rewind required".
    await c.query('CHECKPOINT');
  });
}

export interface InstanceStatus {
  inRecovery: boolean;
  /** Replica: WAL receiver status (`streaming`, …) or undefined when not connected. */
  receiver?: string;
  /** Replica: bytes received but not yet replayed; primary: 0. */
  replayLagBytes: number;
  /** Primary: replicas connected and their lag in bytes. */
  replicas: Array<{ name: string; state: string; lagBytes: number }>;
  archiver: { archived: number; failed: number; lastArchivedAgeSeconds?: number };
  lsn: string;
  /** Replica: the last WAL position received from the primary (what a failover would keep). */
  receivedLsn?: string;
}

export async function readStatus(cfg: InstanceConfig): Promise<InstanceStatus> {
  return withClient(localConnection(cfg), async c => {
    const r = (
      await c.query(`SELECT pg_is_in_recovery() AS rec,
      CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')::text ELSE pg_current_wal_lsn()::text END AS lsn,
      CASE WHEN pg_is_in_recovery() THEN coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0) ELSE 0 END AS lag,
      (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver,
      CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text END AS received`)
    ).rows[0];
    const replicas = r.rec
      ? []
      : (
          await c.query(`SELECT application_name AS name, state,
      coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) AS lag FROM pg_stat_replication`)
        ).rows.map(x => ({ name: x.name, state: x.state, lagBytes: Number(x.lag) }));
    const a = (await c.query(`SELECT archived_count, failed_count, extract(epoch FROM now() - last_archived_time) AS age FROM pg_stat_archiver`))
      .rows[0];
    return {
      inRecovery: r.rec,
      receiver: r.receiver ?? undefined,
      replayLagBytes: Number(r.lag),
      replicas,
      archiver: {
        archived: Number(a.archived_count),
        failed: Number(a.failed_count),
        lastArchivedAgeSeconds: a.age === null ? undefined : Number(a.age),
      },
      lsn: r.lsn,
      receivedLsn: r.received ?? undefined,
    };
  });
}
