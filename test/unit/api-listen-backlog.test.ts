import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import express from 'express';
import pino from 'pino';
import type { Dashboard } from '../../src/dashboard';
import { API_LISTEN_BACKLOG, ApiRole } from '../../src/roles';

// bench:polling-storm: 1,000 players opening at once overflowed Node's default backlog (511); the dropped
// connections waited for TCP's SYN retransmits (1 s, 3 s, 7 s) before their first answer.
it('the API listening socket queues a 1,000-client storm of new connections', async () => {
  const role = new ApiRole(express(), {
    port: 0,
    dashboard: { close: async () => {} } as unknown as Dashboard,
    logger: pino({ level: 'silent' }),
    store: 'memory',
  });
  await role.start();
  try {
    // For a listening socket, ss shows the accept queue's capacity (the backlog) as Send-Q.
    const line = execFileSync('ss', ['-ltnH', `sport = :${role.port}`], { encoding: 'utf8' }).trim();
    const backlog = Number(line.split(/\s+/)[2]);
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(backlog).toBe(Math.min(API_LISTEN_BACKLOG, somaxconn));
    if (somaxconn >= 1000) expect(backlog).toBeGreaterThanOrEqual(1000);
  } finally {
    await role.stop(Date.now() + 5000);
  }
});
