export * from './cluster/props';
export * from './cluster/postgres-cluster';
export { MAX_CLUSTER_NAME } from './cluster/validate';
export * from './scheduling/priority-class';
export * from './network/cluster-network-policy';
export * from './tuning/pgtune';
export { ValidationError } from './validation';
export * as contract from './contract';
