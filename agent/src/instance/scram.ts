import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'crypto';

/**
 * A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5803 format), computed here so that the plain password
 * is never sent in SQL, where `log_statement` could write it to the logs.
 * Passwords are used as given (no SASLprep): fine for the ASCII passwords the secrets command generates; PostgreSQL
 * itself falls back to the raw bytes for strings SASLprep rejects.
 */
export function scramVerifier(password: string, iterations = 4096, salt = randomBytes(16)): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
