/**
 * The cluster's TLS Secrets, kept by the agent like the passwords (never in git, never overwritten by a guess):
 * - `generated`: the CA (`<cluster>-ca-key`) is created once; the server certificate (`<cluster>-server`) is issued
 *   when missing and re-issued by the primary when decideCertificateRenewal says so (a replace with the read
 *   resourceVersion, so two writers never both win);
 * - every mode: `<cluster>-ca` holds only the server Secret's `ca.crt`, for applications and our Jobs to verify with.
 */
import { V1Secret } from '@kubernetes/client-node';
import { CA_CERTIFICATE_DAYS, TLS_KEYS, TlsSpec, serverSans } from '../../../lib/contract';
import { AgentError } from '../common/errors';
import { log } from '../common/log';
import { decideCertificateRenewal } from '../decide/tls';
import { KubeClient, KubeError } from '../k8s/client';
import { PemPair, createCa, createServerCertificate, describeCertificate, signedBy } from './certificates';

const ARGO_IGNORE = { 'argocd.argoproj.io/compare-options': 'IgnoreExtraneous' };

export function secretString(secret: V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}

/** The server Secret's certificate, key and CA, or why it cannot be used. */
export function serverMaterial(name: string, secret: V1Secret | undefined): { cert: string; key: string; ca: string } {
  if (!secret) throw new AgentError(`TLS Secret ${name} does not exist`, tlsFix(name));
  const [cert, key, ca] = [TLS_KEYS.cert, TLS_KEYS.key, TLS_KEYS.ca].map(k => secretString(secret, k));
  const absent = [
    [TLS_KEYS.cert, cert],
    [TLS_KEYS.key, key],
    [TLS_KEYS.ca, ca],
  ]
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (absent.length) throw new AgentError(`TLS Secret ${name} has no ${absent.join(', ')}`, tlsFix(name));
  try {
    describeCertificate(cert!);
    describeCertificate(ca!);
  } catch (e) {
    throw new AgentError(`TLS Secret ${name}: tls.crt or ca.crt is not a PEM certificate (${(e as Error).message})`, tlsFix(name));
  }
  return { cert: cert!, key: key!, ca: ca! };
}

function tlsFix(name: string): string {
  return `Give Secret ${name} the keys tls.crt (the server certificate, then its intermediates), tls.key and ca.crt (the CA that signed it), as cert-manager writes them; with tls.mode "generated" the agent creates it.`;
}

function tlsSecret(name: string, labels: Record<string, string>, data: Record<string, string>, type = 'kubernetes.io/tls'): V1Secret {
  return { apiVersion: 'v1', kind: 'Secret', type, metadata: { name, labels, annotations: ARGO_IGNORE }, stringData: data };
}

async function createIgnoringRace(kube: KubeClient, secret: V1Secret): Promise<boolean> {
  try {
    await kube.createSecret(secret);
    return true;
  } catch (e) {
    if (e instanceof KubeError && e.code === 409) return false; // another writer was first: theirs stands
    throw e;
  }
}

async function readCa(kube: KubeClient, spec: TlsSpec): Promise<PemPair | undefined> {
  const s = await kube.getSecret(spec.generate!.caKeySecret);
  const cert = secretString(s, TLS_KEYS.ca);
  const key = secretString(s, TLS_KEYS.caKey);
  if (s && (!cert || !key))
    throw new AgentError(
      `Secret ${spec.generate!.caKeySecret} has no ca.crt or ca.key`,
      `Delete Secret ${spec.generate!.caKeySecret} and ${spec.serverSecret} so that a new CA is generated (clients must then trust the new ${spec.caSecret}).`,
    );
  return s ? { cert: cert!, key: key! } : undefined;
}

export interface TlsContext {
  readonly cluster: string;
  readonly namespace: string;
  /** Instances the cluster has now (the certificate covers at least TLS_MIN_POD_SANS pods anyway). */
  readonly instances: number;
}

function sansOf(spec: TlsSpec, ctx: TlsContext): string[] {
  return serverSans(ctx.cluster, ctx.namespace, spec.generate!.clusterDomain, ctx.instances, spec.generate!.extraSans);
}

/**
 * Creates what is missing (generated mode: CA, server certificate) and keeps `<cluster>-ca` equal to the server
 * Secret's CA. Never replaces an existing server Secret here; returns the names it created or updated.
 */
export async function ensureTlsSecrets(kube: KubeClient, spec: TlsSpec, ctx: TlsContext): Promise<string[]> {
  const written: string[] = [];
  if (spec.mode === 'generated') {
    const g = spec.generate!;
    let ca = await readCa(kube, spec);
    if (!ca) {
      const fresh = await createCa(`${ctx.cluster} PostgreSQL CA`, CA_CERTIFICATE_DAYS);
      if (await createIgnoringRace(kube, tlsSecret(g.caKeySecret, g.labels, { [TLS_KEYS.ca]: fresh.cert, [TLS_KEYS.caKey]: fresh.key }, 'Opaque')))
        written.push(g.caKeySecret);
      ca = (await readCa(kube, spec))!;
    }
    if (!(await kube.getSecret(spec.serverSecret))) {
      const server = await createServerCertificate(ca, sansOf(spec, ctx), g.serverCertificateDays);
      const data = { [TLS_KEYS.cert]: server.cert, [TLS_KEYS.key]: server.key, [TLS_KEYS.ca]: ca.cert };
      if (await createIgnoringRace(kube, tlsSecret(spec.serverSecret, g.labels, data))) written.push(spec.serverSecret);
    }
  }
  if (await syncCaSecret(kube, spec)) written.push(spec.caSecret);
  return written;
}

/** `<cluster>-ca` = the server Secret's ca.crt (created or updated); false when nothing changed or no server Secret yet. */
export async function syncCaSecret(kube: KubeClient, spec: TlsSpec): Promise<boolean> {
  const ca = secretString(await kube.getSecret(spec.serverSecret), TLS_KEYS.ca);
  if (!ca) return false;
  const current = await kube.getSecret(spec.caSecret);
  if (secretString(current, TLS_KEYS.ca) === ca) return false;
  const labels = spec.generate?.labels ?? {};
  if (!current) return createIgnoringRace(kube, tlsSecret(spec.caSecret, labels, { [TLS_KEYS.ca]: ca }, 'Opaque'));
  await kube.replaceSecret({ ...current, data: { [TLS_KEYS.ca]: Buffer.from(ca).toString('base64') }, stringData: undefined });
  return true;
}

/**
 * Generated mode, by the primary: re-issues the server certificate when it is due (same CA, new key and serial);
 * the instances pick the new one up from the Secret and reload. Returns the reason when it renewed.
 */
export async function renewServerCertificateIfDue(kube: KubeClient, spec: TlsSpec, ctx: TlsContext, now = new Date()): Promise<string | undefined> {
  if (spec.mode !== 'generated') return undefined;
  const current = await kube.getSecret(spec.serverSecret);
  const ca = await readCa(kube, spec);
  if (!current || !ca) return undefined; // ensureTlsSecrets creates them
  const cert = secretString(current, TLS_KEYS.cert);
  const facts = cert ? describeCertificate(cert) : undefined;
  const wanted = sansOf(spec, ctx);
  const decision = facts
    ? decideCertificateRenewal({
        notBefore: facts.notBefore,
        notAfter: facts.notAfter,
        now,
        missingSans: wanted.filter(n => !facts.sans.includes(n)),
        signedByCurrentCa: await signedBy(cert!, ca.cert),
      })
    : ({ renew: true, reason: 'the Secret has no certificate' } as const);
  if (!decision.renew) return undefined;
  const server = await createServerCertificate(ca, wanted, spec.generate!.serverCertificateDays, now);
  const data = { [TLS_KEYS.cert]: server.cert, [TLS_KEYS.key]: server.key, [TLS_KEYS.ca]: ca.cert };
  await kube.replaceSecret({
    ...current,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    stringData: undefined,
  });
  const renewed = describeCertificate(server.cert);
  log.info(
    { secret: spec.serverSecret, reason: decision.reason, serial: renewed.serial, notAfter: renewed.notAfter.toISOString() },
    'renewed the server certificate',
  );
  return decision.reason;
}
