/**
 * The TLS decisions of agent/src/decide/tls.ts as tables: when the generated server certificate is renewed, and how
 * a replica verifies its primary (including mid-rollout from a version without TLS).
 */
import { decideCertificateRenewal, replicationSslMode } from '../../agent/src/decide/tls';

const DAY = 24 * 3600 * 1000;
const issued = new Date('2026-01-01T00:00:00Z');
const at = (days: number) => new Date(issued.getTime() + days * DAY);
const cert = { notBefore: issued, notAfter: at(90), missingSans: [] as string[], signedByCurrentCa: true };

describe('decideCertificateRenewal (90-day certificate)', () => {
  test.each([
    ['fresh: kept', { ...cert, now: at(1) }, false],
    ['just before 2/3 of its life (day 59): kept', { ...cert, now: at(59.9) }, false],
    ['at 2/3 (day 60): renewed', { ...cert, now: at(60) }, true],
    ['expired: renewed', { ...cert, now: at(91) }, true],
    ['not valid yet (clock or a wrong certificate): renewed', { ...cert, now: at(-1) }, true],
    ['lacks a name the cluster needs: renewed', { ...cert, now: at(1), missingSans: ['pg-9'] }, true],
    ['signed by another CA (the CA was replaced): renewed', { ...cert, now: at(1), signedByCurrentCa: false }, true],
  ])('%s', (_why, facts, renew) => {
    expect(decideCertificateRenewal(facts).renew).toBe(renew);
  });

  test('says why', () => {
    expect(decideCertificateRenewal({ ...cert, now: at(61) })).toEqual({ renew: true, reason: '67% of its lifetime has passed' });
  });
});

describe('replicationSslMode', () => {
  test.each([
    ['TLS configured, the primary offers it: verify-full', { tlsConfigured: true, primaryOffersTls: true }, 'verify-full'],
    ['TLS configured, primary unreachable: verify-full (the secure default)', { tlsConfigured: true, primaryOffersTls: undefined }, 'verify-full'],
    [
      'mid-rollout: the old primary (no TLS) answers N: prefer, so the new replica streams and the rollout reaches the primary',
      { tlsConfigured: true, primaryOffersTls: false },
      'prefer',
    ],
    ['manifests without TLS (older version): prefer, as before', { tlsConfigured: false, primaryOffersTls: true }, 'prefer'],
  ])('%s', (_why, facts, mode) => {
    expect(replicationSslMode(facts)).toBe(mode);
  });
});
