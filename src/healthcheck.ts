import { loadConfig } from './config';
import { checkReachable } from './queues/redis';

/**
 * Container healthcheck of the roles without an HTTP port (worker, scheduler, monitor, bot):
 * `node dist/healthcheck.js` exits 0 when this process's configuration is valid and its Redis answers,
 * 1 otherwise (the reason on stderr). The api role uses `GET /readyz` instead.
 */
async function main(): Promise<void> {
  try {
    await checkReachable(loadConfig(), 3000);
    process.exit(0);
  } catch (err) {
    process.stderr.write(`${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
}

void main();
