/**
 * Certificates with WebCrypto (ECDSA P-256) and @peculiar/x509: a cluster CA and a server certificate signed by it.
 * PEM in, PEM out; keys are PKCS#8, which PostgreSQL (OpenSSL) reads. Reading and checking a certificate uses
 * node's own X509Certificate: @peculiar/x509 (with its ASN.1 modules, about 3 MiB of an idle instance agent's heap)
 * loads only when a certificate is made.
 */
import { isIP } from 'net';
import { X509Certificate, randomBytes, webcrypto } from 'crypto';
import type * as X509 from '@peculiar/x509';
import { cjsExports } from '../common/cjs-exports';

// x509's types name the DOM's Crypto/CryptoKey; node's webcrypto is the same API.
type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;
type X509Key = Parameters<typeof X509.X509CertificateGenerator.create>[0]['publicKey'];

let x509Module: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  x509Module ??= (async () => {
    await import('reflect-metadata'); // x509's dependency injection needs it first
    const x509 = cjsExports(await import('@peculiar/x509'));
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return x509Module;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** A positive serial of 16 random bytes (RFC 5280: at most 20 octets, positive). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b.toString('hex');
}

async function exportKey(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN PRIVATE KEY-----\n${lines}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<Key> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

async function newKeys(): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

/** A self-signed CA that may sign server certificates only (path length 0). */
export async function createCa(commonName: string, days: number, now = new Date()): Promise<PemPair> {
  const x509 = await loadX509();
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - 5 * 60_000), // clock skew between nodes
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys: keys as unknown as { publicKey: X509Key; privateKey: X509Key },
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as X509Key),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKey(keys.privateKey) };
}

/** A server certificate for `sans` (DNS names, or IP addresses), signed by the CA. */
export async function createServerCertificate(ca: PemPair, sans: readonly string[], days: number, now = new Date()): Promise<PemPair> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${sans[0]}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    signingKey: (await importKey(ca.key)) as unknown as X509Key,
    publicKey: keys.publicKey as unknown as X509Key,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans.map(value => ({ type: isIP(value) ? 'ip' : 'dns', value }) as X509.JsonGeneralName)),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as X509Key),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKey(keys.privateKey) };
}

export interface CertificateFacts {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly sans: string[];
}

/** Validity, serial (lower-case hex) and names of the first certificate in a PEM; throws on something that is not one. */
export function describeCertificate(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    sans: subjectAltNames(cert.subjectAltName),
  };
}

/**
 * The DNS names and IP addresses of node's `subjectAltName` text (`DNS:a, IP Address:0:0:0:0:0:0:0:1`); values
 * with special characters come JSON-quoted; IPv6 addresses in their short form, as they are written in the spec.
 */
function subjectAltNames(text: string | undefined): string[] {
  if (!text) return [];
  return text.split(/, (?=[A-Za-z ]+:)/).flatMap(entry => {
    const m = /^(DNS|IP Address):(.*)$/.exec(entry);
    if (!m) return [];
    const value = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
    return [m[1] === 'IP Address' && value.includes(':') ? new URL(`http://[${value}]/`).hostname.slice(1, -1) : value];
  });
}

/** True when `cert` was signed by `ca` (the server certificate belongs to this CA). */
export async function signedBy(cert: string, ca: string): Promise<boolean> {
  try {
    return new X509Certificate(cert).verify(new X509Certificate(ca).publicKey);
  } catch {
    return false;
  }
}
