/**
 * Which files of a data directory hold a relation's main fork, page by page: `base/<db>/<relfilenode>[.N]` and
 * `global/<relfilenode>[.N]` (1 GiB segments get `.N`). Their 8 KiB pages carry an LSN, which is what block-level
 * incremental backups compare (agent/src/incremental/filter.ts). Forks (`_fsm`, `_vm`, `_init`) do not match.
 */
export const RELATION_MAIN_FORK = /^(base\/\d+|global)\/\d+(\.\d+)?$/;
