/**
 * The decision module: every role and destructive decision of the agent, as pure functions of observed facts,
 * table-tested in test/agent/decide-*.test.ts. The command loops gather facts and execute the answers; they decide
 * nothing themselves. The invariants these functions keep are in invariants.ts and docs/safety.md.
 */
export * from './invariants';
export * from './start';
export * from './failover';
export * from './switchover';
export * from './rejoin';
export * from './scaling';
export * from './rollout';
export * from './synchronous';
export * from './parameters';
export * from './logical';
export * from './tls';
export * from './import';
export * from './backup-chain';
