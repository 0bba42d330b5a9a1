import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { ConfigError, loadYamlFile, parseYaml } from '../config-file';
import { defaultAllowConcurrent } from './concurrency';

const ID = /^[a-z][a-z0-9_]{0,63}$/;
const QUEUE = /^[a-z][a-z0-9_-]{0,63}$/;

const idField = z
  .string({ error: 'expected a string' })
  .regex(ID, { error: 'expected lowercase letters, digits and _' });
/**
 * `search_keys`: payload keys whose values make a run findable with `GET /api/jobs/runs?q=` (besides its run id
 * and user id), e.g. `[call_sid]` for recording_download.
 */
const searchKeys = z
  .array(
    z
      .string({ error: 'expected a payload key (a string)' })
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { error: 'expected a payload key: letters, digits and _' }),
    { error: 'expected a list of payload keys, e.g. [call_sid]' },
  )
  .max(10, { error: 'at most 10 search keys' })
  .default([]);
const positive = z
  .number({ error: 'expected a positive number' })
  .positive({ error: 'expected a positive number' });

const staticJobSchema = z
  .strictObject({
    job_id: idField,
    name: z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' }),
    category: idField,
    job_type: z.enum(['repeating', 'cron', 'once'], { error: 'expected repeating, cron or once' }),
    interval_seconds: positive.optional(),
    cron: z.string({ error: 'expected a cron expression' }).optional(),
    enabled: z.boolean({ error: 'expected true or false' }).default(true),
    allow_concurrent: z
      .boolean({ error: 'expected true or false' })
      .default(defaultAllowConcurrent('static')),
    callback_name: z.string({ error: 'expected a processor name' }).min(1),
    queue: z
      .string({ error: 'expected a queue name' })
      .regex(QUEUE, { error: 'expected a queue name' })
      .default('default'),
    timeout_seconds: positive.optional(),
    stuck_after_minutes: positive.optional(),
    description: z.string({ error: 'expected a string' }).default(''),
    search_keys: searchKeys,
  })
  .superRefine((job, ctx) => {
    if (job.job_type === 'repeating' && job.interval_seconds === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['interval_seconds'],
        message: 'required for job_type repeating',
      });
    }
    if (job.job_type === 'cron') {
      if (!job.cron) ctx.addIssue({ code: 'custom', path: ['cron'], message: 'required for job_type cron' });
      else {
        try {
          CronExpressionParser.parse(job.cron);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['cron'],
            message: `invalid cron expression: ${(err as Error).message}`,
          });
        }
      }
    }
  });

const dynamicJobSchema = z.strictObject({
  job_id: idField,
  name: z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' }),
  category: idField,
  callback_name: z.string({ error: 'expected a processor name' }).min(1),
  queue: z
    .string({ error: 'expected a queue name' })
    .regex(QUEUE, { error: 'expected a queue name' })
    .default('default'),
  can_trigger: z
    .literal(false, { error: 'dynamic jobs cannot be triggered by hand: expected false' })
    .default(false),
  allow_concurrent: z.boolean({ error: 'expected true or false' }).default(defaultAllowConcurrent('dynamic')),
  timeout_seconds: positive.optional(),
  stuck_after_minutes: positive.optional(),
  description: z.string({ error: 'expected a string' }).default(''),
  search_keys: searchKeys,
});

const fileSchema = z
  .strictObject({
    jobs: z.array(staticJobSchema, { error: 'expected a list of jobs' }).default([]),
    dynamic_jobs: z.array(dynamicJobSchema, { error: 'expected a list of dynamic jobs' }).default([]),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    const check = (list: 'jobs' | 'dynamic_jobs', id: string, i: number) => {
      const first = seen.get(id);
      if (first)
        ctx.addIssue({
          code: 'custom',
          path: [list, i, 'job_id'],
          message: `duplicate job_id "${id}" (first at ${first})`,
        });
      else seen.set(id, `${list}[${i}]`);
    };
    file.jobs.forEach((j, i) => {
      check('jobs', j.job_id, i);
    });
    file.dynamic_jobs.forEach((j, i) => {
      check('dynamic_jobs', j.job_id, i);
    });
  });

/** A job as the registry knows it: static (scheduled/triggerable) or dynamic (enqueued by user actions). */
export interface JobDefinition {
  job_id: string;
  name: string;
  category: string;
  /** 'dynamic' for jobs enqueued by application code. */
  job_type: 'repeating' | 'cron' | 'once' | 'dynamic';
  interval_seconds: number | null;
  cron: string | null;
  enabled: boolean;
  allow_concurrent: boolean;
  /** Name of the processor in src/workers/processors that runs this job. */
  callback_name: string;
  queue: string;
  timeout_seconds: number | null;
  stuck_after_minutes: number | null;
  description: string;
  /**
   * Payload keys whose values find a run by `GET /api/jobs/runs?q=` (jobs.yml `search_keys`; [] when unset).
   * Record `searchTerms(payload, def.search_keys)` as the run's `RunIdentity.search`.
   */
  search_keys?: readonly string[];
  /** True for enabled-or-not static jobs: they can be run by hand. Dynamic jobs never can. */
  can_trigger: boolean;
  is_dynamic: boolean;
}

/**
 * The catalogue of jobs, loaded once from config/jobs.yml. Read-only after construction.
 */
export class JobRegistry {
  private readonly byId: Map<string, JobDefinition>;

  constructor(readonly jobs: readonly JobDefinition[]) {
    this.byId = new Map(jobs.map((j) => [j.job_id, j]));
  }

  /** Loads and validates a jobs file. @throws ConfigError naming file, path and reason. */
  static fromFile(file: string): JobRegistry {
    return JobRegistry.fromParsed(loadYamlFile(file, fileSchema));
  }

  /** Same as {@link fromFile} for YAML text (tests, embedded configs). */
  static fromYaml(text: string, file = 'jobs.yml'): JobRegistry {
    return JobRegistry.fromParsed(parseYaml(file, text, fileSchema));
  }

  private static fromParsed(parsed: z.output<typeof fileSchema>): JobRegistry {
    const statics: JobDefinition[] = parsed.jobs.map((j) => ({
      ...j,
      interval_seconds: j.interval_seconds ?? null,
      cron: j.cron ?? null,
      timeout_seconds: j.timeout_seconds ?? null,
      stuck_after_minutes: j.stuck_after_minutes ?? null,
      can_trigger: true,
      is_dynamic: false,
    }));
    const dynamics: JobDefinition[] = parsed.dynamic_jobs.map((j) => ({
      job_id: j.job_id,
      name: j.name,
      category: j.category,
      job_type: 'dynamic',
      interval_seconds: null,
      cron: null,
      enabled: true,
      allow_concurrent: j.allow_concurrent,
      callback_name: j.callback_name,
      queue: j.queue,
      timeout_seconds: j.timeout_seconds ?? null,
      stuck_after_minutes: j.stuck_after_minutes ?? null,
      description: j.description,
      search_keys: j.search_keys,
      can_trigger: false,
      is_dynamic: true,
    }));
    return new JobRegistry([...statics, ...dynamics]);
  }

  get(jobId: string): JobDefinition | undefined {
    return this.byId.get(jobId);
  }

  /** The job's `search_keys` ([] for a job without them or an unknown job). */
  searchKeysOf(jobId: string): readonly string[] {
    return this.byId.get(jobId)?.search_keys ?? [];
  }

  /**
   * A copy in which `jobId` has `stuck_after_minutes = minutes` unless its entry sets one: for a job whose
   * stuck threshold another setting supplies (RECORDING_JOB_TIMEOUT_SECONDS for recording_download).
   */
  withStuckDefault(jobId: string, minutes: number): JobRegistry {
    return new JobRegistry(
      this.jobs.map((j) =>
        j.job_id === jobId && j.stuck_after_minutes === null ? { ...j, stuck_after_minutes: minutes } : j,
      ),
    );
  }

  /** Every queue name any job uses, sorted. */
  queues(): string[] {
    return [...new Set(this.jobs.map((j) => j.queue))].sort();
  }

  categories(): string[] {
    return [...new Set(this.jobs.map((j) => j.category))].sort();
  }

  /** Static jobs that have a schedule (repeating or cron) and are enabled. */
  scheduled(): JobDefinition[] {
    return this.jobs.filter((j) => j.enabled && (j.job_type === 'repeating' || j.job_type === 'cron'));
  }

  /** Fails with a ConfigError when a job names a processor that does not exist. */
  assertProcessors(known: ReadonlySet<string>, file: string): void {
    const problems = this.jobs
      .filter((j) => !known.has(j.callback_name))
      .map(
        (j) =>
          `${file}: ${j.is_dynamic ? 'dynamic_jobs' : 'jobs'}[${j.job_id}].callback_name: unknown processor "${j.callback_name}"`,
      );
    if (problems.length) throw new ConfigError(problems.join('\n'), problems);
  }
}
