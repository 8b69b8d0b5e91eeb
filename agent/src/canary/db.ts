/**
 * The canary's table and its queries. Each record carries a checksum, the hex SHA-256 of the canonical text
 * `<seq>|<created_at as YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC>|<payload>`, so changing any column (or the checksum)
 * is detected. PostgreSQL computes it (sha256() is built in since 11) when writing and when checking, with the
 * one expression below; {@link checksumOf} is the same in Node, for anyone who wants to check by hand.
 *
 * Every failure reaches the caller as a {@link CanaryDbError}: the cause in plain words (host, port, user and
 * PostgreSQL's message, never the password), and a hint.
 */
import { createHash, randomBytes } from 'crypto';
import { Pool, PoolClient } from 'pg';
import { CANARY_TABLE } from '../../../lib/contract';
import { log } from '../common/log';
import { DbTarget, describeTarget } from './config';

export const PAGE_SIZE = 20;
/** How many bad records a verdict names (the count is always complete). */
export const MAX_NAMED_BAD = 10;

const T = CANARY_TABLE;
/** created_at as canonical text: UTC, microseconds, independent of the session's TimeZone and DateStyle. */
const CREATED_AT_TEXT = (a: string) => `to_char(${a}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const CHECKSUM_SQL = (a: string) =>
  `encode(sha256(convert_to(${a}.seq::text || '|' || ${CREATED_AT_TEXT(a)} || '|' || ${a}.payload, 'UTF8')), 'hex')`;

/** The checksum of a record, computed as PostgreSQL does when writing it. */
export function checksumOf(seq: number | string, createdAt: string, payload: string): string {
  return createHash('sha256').update(`${seq}|${createdAt}|${payload}`, 'utf8').digest('hex');
}

export interface CanaryRecord {
  seq: number;
  /** UTC, microseconds: `2024-05-01T12:34:56.123456Z`. */
  createdAt: string;
  payload: string;
  checksum: string;
  /** The stored checksum matches the record's columns. */
  valid: boolean;
}

export interface RecordPage {
  page: number;
  pageSize: number;
  total: number;
  pages: number;
  records: CanaryRecord[];
}

export interface Verdict {
  ok: boolean;
  total: number;
  invalidCount: number;
  /** The first {@link MAX_NAMED_BAD} bad records, lowest seq first. */
  invalid: Array<{ seq: number; problem: string }>;
  newestSeq?: number;
  newestAt?: string;
  text: string;
}

export interface ServerStatus {
  role: 'primary' | 'replica';
  inRecovery: boolean;
  /** Current WAL position: pg_current_wal_lsn() on a primary, the last replayed one in recovery. */
  lsn: string;
  /** Timeline of the latest checkpoint; a point-in-time restore starts a new one. */
  timeline?: number;
  serverTime: string;
  database: string;
  user: string;
  version: string;
}

/** A database failure explained for a person. */
export class CanaryDbError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CanaryDbError';
  }
}

export class CanaryDb {
  private readonly pool: Pool;
  private schemaReady = false;

  constructor(readonly target: DbTarget) {
    this.pool = new Pool({
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      password: target.password ?? '',
      ssl: target.ssl === 'require' ? { rejectUnauthorized: false } : target.ssl === 'verify' ? true : undefined,
      application_name: 'pgc-canary',
      max: 3,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 10000,
      statement_timeout: 15000,
    });
    // An idle connection that the server drops (restart, failover) must not take the process down.
    this.pool.on('error', err => log.warn({ cause: this.explain(err, 'query').message }, 'idle database connection lost'));
  }

  /** Writes one record with a random payload; `source` says who asked (button, api, heartbeat). */
  async insert(source: string): Promise<CanaryRecord> {
    const payload = `${source} ${randomBytes(8).toString('hex')}`;
    return this.withClient(async c => {
      const res = await c.query(
        `WITH n AS (SELECT nextval(pg_get_serial_sequence('${T}', 'seq')) AS seq, clock_timestamp() AS created_at, $1::text AS payload)
         INSERT INTO ${T} (seq, created_at, payload, checksum) SELECT n.seq, n.created_at, n.payload, ${CHECKSUM_SQL('n')} FROM n
         RETURNING seq, ${CREATED_AT_TEXT(T)} AS created_at, payload, checksum`,
        [payload],
      );
      return toRecord({ ...res.rows[0], valid: true });
    });
  }

  /** One page of records, newest first (page 1 is the newest). */
  async records(page: number): Promise<RecordPage> {
    return this.withClient(async c => this.recordsWith(c, page));
  }

  async verdict(): Promise<Verdict> {
    return this.withClient(async c => this.verdictWith(c));
  }

  async status(): Promise<ServerStatus> {
    return this.withClient(async c => this.statusWith(c));
  }

  /** Everything the page shows, over one connection. */
  async overview(page: number): Promise<{ status: ServerStatus; verdict: Verdict; records: RecordPage }> {
    return this.withClient(async c => ({
      status: await this.statusWith(c),
      verdict: await this.verdictWith(c),
      records: await this.recordsWith(c, page),
    }));
  }

  async end(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async recordsWith(c: PoolClient, page: number): Promise<RecordPage> {
    const total = Number((await c.query(`SELECT count(*) AS n FROM ${T}`)).rows[0].n);
    const res = await c.query(
      `SELECT r.seq, ${CREATED_AT_TEXT('r')} AS created_at, r.payload, r.checksum, r.checksum IS NOT DISTINCT FROM ${CHECKSUM_SQL('r')} AS valid
       FROM ${T} r ORDER BY r.seq DESC LIMIT $1 OFFSET $2`,
      [PAGE_SIZE, (page - 1) * PAGE_SIZE],
    );
    return { page, pageSize: PAGE_SIZE, total, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), records: res.rows.map(toRecord) };
  }

  private async verdictWith(c: PoolClient): Promise<Verdict> {
    const summary = (
      await c.query(
        `SELECT count(*) AS total, count(*) FILTER (WHERE bad) AS bad_count,
              (array_agg(seq ORDER BY seq) FILTER (WHERE bad))[1:${MAX_NAMED_BAD}] AS bad_seqs
       FROM (SELECT r.seq, r.checksum IS DISTINCT FROM ${CHECKSUM_SQL('r')} AS bad FROM ${T} r) x`,
      )
    ).rows[0];
    const newest = (await c.query(`SELECT r.seq, ${CREATED_AT_TEXT('r')} AS created_at FROM ${T} r ORDER BY r.seq DESC LIMIT 1`)).rows[0];
    return buildVerdict({
      total: Number(summary.total),
      invalidCount: Number(summary.bad_count),
      badSeqs: (summary.bad_seqs ?? []).map(Number),
      newestSeq: newest ? Number(newest.seq) : undefined,
      newestAt: newest?.created_at ?? undefined,
    });
  }

  private async statusWith(c: PoolClient): Promise<ServerStatus> {
    const row = (
      await c.query(
        `SELECT pg_is_in_recovery() AS in_recovery,
              (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
              to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS server_time,
              current_database() AS database, current_user AS "user", current_setting('server_version') AS version`,
      )
    ).rows[0];
    let timeline: number | undefined;
    try {
      timeline = Number((await c.query('SELECT timeline_id FROM pg_control_checkpoint()')).rows[0].timeline_id);
    } catch {
      // Not granted to this role on some servers: the page shows the rest.
    }
    return {
      role: row.in_recovery ? 'replica' : 'primary',
      inRecovery: row.in_recovery,
      lsn: row.lsn ?? 'unknown',
      timeline,
      serverTime: row.server_time,
      database: row.database,
      user: row.user,
      version: row.version,
    };
  }

  /** Checks out a connection with the table in place; every error comes out as a CanaryDbError. */
  private async withClient<R>(fn: (c: PoolClient) => Promise<R>): Promise<R> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.explain(e, 'connect');
    }
    let failed: Error | undefined;
    try {
      if (!this.schemaReady) await this.ensureSchema(client);
      return await fn(client);
    } catch (e) {
      failed = e as Error;
      // The table vanished (a restore from before the canary existed): look again next time.
      if ((e as { code?: string }).code === '42P01') this.schemaReady = false;
      throw e instanceof CanaryDbError ? e : this.explain(e, 'query');
    } finally {
      client.release(failed);
    }
  }

  private async ensureSchema(c: PoolClient): Promise<void> {
    const row = (await c.query('SELECT to_regclass($1) IS NOT NULL AS present, pg_is_in_recovery() AS ro', [T])).rows[0];
    if (!row.present) {
      if (row.ro) {
        throw new CanaryDbError(
          `the table ${T} does not exist in ${this.target.database} at ${this.where()}, and the server is read-only (in recovery), so the canary cannot create it`,
          'Point the canary at the primary (the -rw Service), or wait until the restored cluster is promoted.',
        );
      }
      try {
        // Normally the primary's agent creates it for the canary's role (which may not create tables); a canary
        // running as the database owner (a hand-made setup) still creates it itself.
        await c.query(`CREATE TABLE IF NOT EXISTS ${T} (
          seq bigserial PRIMARY KEY,
          created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
          payload text NOT NULL,
          checksum text NOT NULL
        )`);
        log.info({ table: T, database: this.target.database }, 'canary table created');
      } catch (e) {
        // Two canaries creating it at once: the loser sees a duplicate; the table is there either way.
        const code = (e as { code?: string }).code ?? '';
        if (code === '42501') {
          throw new CanaryDbError(
            `the table ${T} does not exist in ${this.target.database} yet, and the canary's role may not create it`,
            "The primary's agent creates it and grants the canary's role within about 10 s of the primary starting: wait, or check the instance log for 'canary role'.",
            code,
          );
        }
        if (!['23505', '42P07'].includes(code)) throw e;
      }
    }
    this.schemaReady = true;
  }

  private where(): string {
    return describeTarget(this.target).replace(/\/[^/]*$/, '');
  }

  /** Turns a driver or server error into one sentence a person can act on, without the password. */
  explain(err: unknown, phase: 'connect' | 'query'): CanaryDbError {
    const e = (err ?? {}) as { code?: string; message?: string; errors?: Array<{ code?: string }>; severity?: string };
    const code = e.code ?? e.errors?.[0]?.code;
    const where = this.where();
    const prefix = phase === 'connect' ? `cannot connect to ${where}` : `query on database ${this.target.database} at ${where} failed`;
    const serverMessage = (e.message ?? String(err)).replace(/\s+/g, ' ').trim();
    let cause: string;
    let hint = "Check the canary's environment (the app Secret) and that the cluster is running.";
    switch (code) {
      case 'ECONNREFUSED':
        cause = 'connection refused (nothing is listening there)';
        hint = "Is the cluster's primary running and ready? The -rw Service has no endpoint while there is no primary.";
        break;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        cause = `the host name ${this.target.host} does not resolve`;
        hint = "Check the host in the app Secret and that the canary runs in the cluster's namespace.";
        break;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        cause = `no answer (${code})`;
        hint = "A network policy may drop the canary's packets: its pod must carry the cluster label.";
        break;
      case 'ECONNRESET':
      case 'EPIPE':
        cause = 'the connection was closed before PostgreSQL answered (is the server running?)';
        hint = "Is the cluster's primary running and ready? The -rw Service has no endpoint while there is no primary.";
        break;
      case '28P01':
        cause = serverMessage;
        hint = "The password in the app Secret does not match the role's. The instance sets the role's password from that Secret when it starts.";
        break;
      case '28000':
      case '3D000':
        cause = serverMessage;
        hint = 'The role or the database is not there: is this the right cluster, or was it restored from another one?';
        break;
      case '57P01':
      case '57P02':
      case '57P03':
        cause = serverMessage;
        hint = 'PostgreSQL is starting up or shutting down: try again in a moment.';
        break;
      case '42501':
        cause = serverMessage;
        hint =
          "The canary's role may only read and insert into its table; the primary's agent grants that (is the canary listed in the cluster's ConfigMap?).";
        break;
      case '25006':
        cause = serverMessage;
        hint = 'The server is a replica or still in recovery: writes go to the primary (the -rw Service).';
        break;
      default:
        if (/timeout/i.test(serverMessage)) {
          cause = 'no answer within 5 seconds';
          hint = "A network policy may drop the canary's packets: its pod must carry the cluster label.";
        } else if (/Connection terminated/i.test(serverMessage)) {
          cause = 'the connection was closed before PostgreSQL answered (is the server running?)';
          hint = "Is the cluster's primary running and ready? The -rw Service has no endpoint while there is no primary.";
        } else {
          cause = serverMessage;
        }
    }
    return new CanaryDbError(this.scrub(`${prefix}: ${cause}`), hint, code);
  }

  private scrub(text: string): string {
    const pw = this.target.password;
    return pw && pw.length >= 4 ? text.split(pw).join('[redacted]') : text;
  }
}

function toRecord(row: { seq: string | number; created_at: string; payload: string; checksum: string; valid: boolean }): CanaryRecord {
  return { seq: Number(row.seq), createdAt: row.created_at, payload: row.payload, checksum: row.checksum, valid: row.valid === true };
}

/** The verdict and its one-line text: "N records, all checksums valid, newest at T" or the bad records named. */
export function buildVerdict(v: { total: number; invalidCount: number; badSeqs: number[]; newestSeq?: number; newestAt?: string }): Verdict {
  const invalid = v.badSeqs.slice(0, MAX_NAMED_BAD).map(seq => ({ seq, problem: 'checksum mismatch' }));
  const records = `${v.total} record${v.total === 1 ? '' : 's'}`;
  let text: string;
  if (v.total === 0) text = '0 records yet: press the button to write one';
  else if (v.invalidCount === 0) text = `${records}, all checksums valid, newest at ${v.newestAt}`;
  else {
    const named = invalid.map(b => `record #${b.seq}: ${b.problem}`).join('; ');
    const more = v.invalidCount > invalid.length ? `; and ${v.invalidCount - invalid.length} more` : '';
    text = `${records}, ${v.invalidCount} with a bad checksum: ${named}${more}`;
  }
  return { ok: v.invalidCount === 0, total: v.total, invalidCount: v.invalidCount, invalid, newestSeq: v.newestSeq, newestAt: v.newestAt, text };
}
