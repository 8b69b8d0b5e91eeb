/**
 * TLS decisions: when the generated server certificate is renewed, and how a replica verifies its primary.
 */
import { TLS_RENEW_AT_FRACTION } from '../../../lib/contract';

export type RenewalDecision = { renew: false } | { renew: true; reason: string };

/**
 * Renew at TLS_RENEW_AT_FRACTION of the lifetime (a third of it stays as margin for a failing renewal), when it is
 * already expired or not yet valid, or when it lacks a name the cluster needs (a scale-up past the names it has,
 * or a CA that changed).
 */
export function decideCertificateRenewal(f: {
  notBefore: Date;
  notAfter: Date;
  now: Date;
  missingSans: readonly string[];
  signedByCurrentCa: boolean;
}): RenewalDecision {
  const life = f.notAfter.getTime() - f.notBefore.getTime();
  const renewAt = f.notBefore.getTime() + life * TLS_RENEW_AT_FRACTION;
  if (!f.signedByCurrentCa) return { renew: true, reason: 'the certificate is not signed by the cluster CA' };
  if (f.now.getTime() >= f.notAfter.getTime()) return { renew: true, reason: 'the certificate has expired' };
  if (f.now.getTime() < f.notBefore.getTime()) return { renew: true, reason: 'the certificate is not valid yet (clock or a wrong certificate)' };
  if (f.now.getTime() >= renewAt) return { renew: true, reason: `${Math.round(TLS_RENEW_AT_FRACTION * 100)}% of its lifetime has passed` };
  if (f.missingSans.length) return { renew: true, reason: `it lacks the names ${f.missingSans.slice(0, 3).join(', ')}` };
  return { renew: false };
}

/**
 * The sslmode of a replica's primary_conninfo. `verify-full` against the cluster CA whenever the primary offers TLS.
 * A primary that does not (only during the rollout that introduces TLS: the old primary still runs the previous
 * agent, and the replicas roll first) is followed with `prefer`, as before, so that the new replicas stream and the
 * rollout reaches the primary; the replica re-checks and switches to `verify-full` once the primary offers TLS.
 */
export function replicationSslMode(f: { tlsConfigured: boolean; primaryOffersTls: boolean | undefined }): 'verify-full' | 'prefer' {
  if (!f.tlsConfigured) return 'prefer';
  // Unknown (primary unreachable): verify-full, the secure default; a wrong guess only delays streaming a probe.
  return f.primaryOffersTls === false ? 'prefer' : 'verify-full';
}
