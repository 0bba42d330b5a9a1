import { AFTER_DEADLINE_MS, Launcher, type Lifecycle } from '../../src/launcher';
import { memoryLogger } from '../helpers/logger';

/** A part that records its calls in `calls`; `hang` makes its stop never finish, `failStart` its start throw. */
function part(name: string, calls: string[], opts: { hang?: boolean; failStart?: boolean } = {}): Lifecycle {
  return {
    name,
    async start() {
      calls.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    stop(deadline) {
      calls.push(`stop ${name}`);
      expect(typeof deadline).toBe('number');
      return opts.hang ? new Promise<void>(() => undefined) : Promise.resolve();
    },
  };
}

describe('Launcher', () => {
  it('starts the parts in order and stops them in reverse', async () => {
    const calls: string[] = [];
    const l = new Launcher(
      [part('connections', calls), part('tracker', calls), part('api', calls)],
      memoryLogger().logger,
    );
    await l.start();
    expect(await l.stop(Date.now() + 1000)).toEqual({ abandoned: [] });
    expect(calls).toEqual([
      'start connections',
      'start tracker',
      'start api',
      'stop api',
      'stop tracker',
      'stop connections',
    ]);
  });

  it('abandons a part that misses the deadline, names it, and still stops the parts after it', async () => {
    const calls: string[] = [];
    const logs = memoryLogger();
    const l = new Launcher([part('connections', calls), part('worker', calls, { hang: true })], logs.logger);
    await l.start();
    const report = await l.stop(Date.now() + 50);
    expect(report).toEqual({ abandoned: ['worker'] });
    expect(calls.slice(-2)).toEqual(['stop worker', 'stop connections']);
    expect(logs.lines.find((x) => x.msg === 'shutdown_abandoned')).toMatchObject({ part: 'worker' });
    expect(AFTER_DEADLINE_MS).toBeGreaterThan(0);
  });

  it('while stopping, names the parts not stopped yet (what a backstop exit reports as abandoned)', async () => {
    const calls: string[] = [];
    const l = new Launcher(
      [part('connections', calls), part('worker', calls, { hang: true }), part('api', calls)],
      memoryLogger().logger,
    );
    await l.start();
    expect(l.unfinished).toEqual([]);
    const stopping = l.stop(Date.now() + 300);
    // api stopped at once; the worker hangs, and connections come after it.
    await new Promise((r) => setImmediate(r));
    expect(calls.at(-1)).toBe('stop worker');
    expect(l.unfinished).toEqual(['worker', 'connections']);
    expect(await stopping).toEqual({ abandoned: ['worker'] });
    expect(l.unfinished).toEqual(['worker']);
  });

  it('a part that fails to start stops the ones already started, in reverse, and the error reaches the caller', async () => {
    const calls: string[] = [];
    const l = new Launcher(
      [
        part('connections', calls),
        part('monitor', calls),
        part('api', calls, { failStart: true }),
        part('bot', calls),
      ],
      memoryLogger().logger,
    );
    await expect(l.start()).rejects.toThrow('api cannot start');
    expect(calls).toEqual([
      'start connections',
      'start monitor',
      'start api',
      'stop monitor',
      'stop connections',
    ]);
  });
});
