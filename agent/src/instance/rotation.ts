/**
 * Password rotation while the instance runs: the Secrets are read every CREDENTIALS_POLL_SECONDS (credentials.ts);
 * a new replication password is written to the passfile at once (a replica's walreceiver reads it on its next
 * connection; the streaming one is not interrupted), and the primary gives every role its Secret's password
 * (passwords.ts). Order does not matter: a replica that reconnects with the new password before the primary applied
 * it is refused and PostgreSQL retries every wal_retrieve_retry_interval (5 s); a rewind refused for the same reason
 * waits and retries (RejoinBlocked, I2), a clone retries, none of them deletes anything.
 */
import { log } from '../common/log';
import { KubeClient } from '../k8s/client';
import { InstanceConfig } from './config';
import { writeReplicationPassfile } from './config-files';
import { pollCredentials } from './credentials';
import { applyPasswords } from './passwords';
import { reconcileCanaryRoles } from './canary-role';

/** Starts following the Secrets; `isPrimary` says whether this instance is the reconciled, writable primary now. */
export function startRotation(kube: KubeClient, cfg: InstanceConfig, isPrimary: () => boolean): () => void {
  return pollCredentials(kube, cfg.credentials, isPrimary, async r => {
    if (r.changed.includes(cfg.credentials.sources.replicationSecret)) writeReplicationPassfile(cfg);
    if (!isPrimary()) return;
    try {
      await applyPasswords(cfg);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "cannot apply the Secrets' passwords to the roles yet; retrying");
    }
    // The canaries' roles follow their Secrets and the ConfigMap the same way (logs its own problems).
    await reconcileCanaryRoles(kube, cfg);
  });
}
