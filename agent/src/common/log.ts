import pino from 'pino';

/**
 * One JSON object a line on stderr: `level`, `time`, `msg` and fields. Keys that could carry credentials are
 * redacted wherever they appear, so a careless field can never print a password.
 */
export const log = pino(
  {
    level: process.env.PGC_LOG_LEVEL ?? 'info',
    base: undefined,
    messageKey: 'msg',
    formatters: { level: label => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'secretAccessKey', '*.secretAccessKey', 'PGPASSWORD', '*.PGPASSWORD', 'uri', '*.uri', 'env', '*.env'],
      censor: '[redacted]',
    },
  },
  pino.destination({ fd: 2, sync: true }),
);

export type Logger = typeof log;
