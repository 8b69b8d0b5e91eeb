/**
 * The version of this package (package.json's `version`), which the default agent image's tag carries:
 * `ghcr.io/cdk8s-postgres/agent:<version>-pg<major>`, so a release of the constructs renders the agent built with
 * it. `npm version` rewrites it (scripts/sync-version.mjs); test/package/version.test.ts checks they agree.
 */
export const PACKAGE_VERSION = '0.1.0';
