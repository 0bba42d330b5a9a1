import { EventEmitter } from 'node:events';
import { logErrorsOncePerEpisode } from '../../src/log-once';
import { memoryLogger } from '../helpers/logger';

describe('errors are logged once per episode, never dropped', () => {
  it('logs the first error of an outage with its stack, the recovery, and the next outage again', () => {
    const { logger, lines } = memoryLogger();
    const conn = new EventEmitter();
    logErrorsOncePerEpisode(conn, logger, 'redis_connection_error', { connection: 'request' });

    for (let i = 0; i < 5; i++) conn.emit('error', new Error(`connect ECONNREFUSED ${i}`));
    conn.emit('ready');
    conn.emit('error', new Error('Connection is closed.'));

    const logged = lines.map((l) => [
      l.msg,
      (l.err as { message?: string } | undefined)?.message ?? l.errors,
    ]);
    expect(logged).toEqual([
      ['redis_connection_error', 'connect ECONNREFUSED 0'],
      ['redis_connection_error_recovered', 5],
      ['redis_connection_error', 'Connection is closed.'],
    ]);
    expect(String((lines[0].err as { stack?: string }).stack)).toContain('log-once.test.ts');
    expect(lines[0].connection).toBe('request');
  });
});
