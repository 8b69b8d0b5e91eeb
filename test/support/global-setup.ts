/**
 * jest globalSetup: checks the system tools the tests run (a missing one fails the run at once, naming its Debian
 * package), then starts the test run's Ceph RGW (./s3/global-setup.ts).
 */
import s3GlobalSetup from './s3/global-setup';
import { checkSystemTools } from './system-tools';

export default async function globalSetup(): Promise<void> {
  checkSystemTools();
  await s3GlobalSetup();
}
