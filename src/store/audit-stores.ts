import type { Redis } from 'ioredis';
import { type Collection, type Document, MongoClient } from 'mongodb';
import { AUDIT_RETENTION_MS, type AuditEntry, type AuditStore } from '../monitor/audit';
import { RedisKeys } from '../queues/redis-keys';
import { isMongoOutage, withStoreErrors } from './unavailable';

/**
 * The audit log in one Redis stream (`{jm}:audit`): XADD with `MINID <now - 7 days>`, so every write
 * trims entries older than the retention (and a MAXLEN cap bounds a burst). Reads are XREVRANGE down to
 * `now - 7 days` only, so entries are never shown past the retention even when nothing was written since.
 */
export class RedisAuditStore implements AuditStore {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly opts: { retentionMs?: number; maxLen?: number; now?: () => number } = {},
  ) {
    this.key = new RedisKeys(prefix).auditStream;
  }

  /** The oldest stream id still within the retention. */
  private minId(): string {
    const now = (this.opts.now ?? Date.now)();
    return String(Math.max(0, now - (this.opts.retentionMs ?? AUDIT_RETENTION_MS)));
  }

  async append(entry: AuditEntry): Promise<void> {
    const minId = this.minId();
    const { id: _id, ...body } = entry;
    await this.redis.xadd(this.key, 'MINID', minId, '*', 'e', JSON.stringify(body));
    await this.redis.xtrim(this.key, 'MAXLEN', '~', this.opts.maxLen ?? 100_000);
  }

  async latest(limit: number): Promise<AuditEntry[]> {
    const rows = await this.redis.xrevrange(this.key, '+', this.minId(), 'COUNT', limit);
    const out: AuditEntry[] = [];
    for (const [id, fields] of rows) {
      const i = fields.indexOf('e');
      if (i < 0) continue;
      try {
        out.push({ ...(JSON.parse(fields[i + 1]) as AuditEntry), id });
      } catch {
        // an entry written by hand that is not ours: skipped
      }
    }
    return out;
  }
}

/**
 * The audit log in MongoDB (`audit_log`), used when MONGO_URL is set: `at` is a Date with a TTL index
 * (7 days), so MongoDB deletes old entries itself; reads use the same index, newest first, and skip entries
 * past the retention that the TTL monitor (which runs once a minute) has not deleted yet.
 */
export class MongoAuditStore implements AuditStore {
  private ready: Promise<unknown> | undefined;

  constructor(
    private readonly collection: Collection<Document>,
    private readonly retentionMs = AUDIT_RETENTION_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates the TTL index (idempotent). */
  init(): Promise<unknown> {
    this.ready ??= this.collection
      .createIndex({ at: -1 }, { name: 'at_ttl', expireAfterSeconds: Math.round(this.retentionMs / 1000) })
      .catch((err) => {
        this.ready = undefined;
        throw err;
      });
    return this.ready;
  }

  async append(entry: AuditEntry): Promise<void> {
    await this.init();
    const { id: _id, at, ...rest } = entry;
    await this.collection.insertOne({ ...rest, at: new Date(at) });
  }

  async latest(limit: number): Promise<AuditEntry[]> {
    const since = new Date(this.now() - this.retentionMs);
    const docs = await this.collection
      .find({ at: { $gte: since } })
      .sort({ at: -1, _id: -1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => mongoAuditDoc(d));
  }
}

/** A stored audit document as the API returns it (ObjectId → id, Date → ISO). */
export function mongoAuditDoc(d: Document): AuditEntry {
  const { _id, at, ...rest } = d;
  return { ...(rest as AuditEntry), id: String(_id), at: at instanceof Date ? at.toISOString() : String(at) };
}

/**
 * The audit store the config asks for: MongoDB (its own small client on MONGO_URL/MONGO_DB) when MONGO_URL
 * is set, else the Redis stream. `start` connects the MongoDB client (as the MongoDB run store does at start:
 * a driver whose first, automatic connect fails stays closed for good), `close` ends it. A MongoDB outage
 * rejects with StoreUnavailableError (the API answers 503 `store_unavailable`), as the Redis client's does.
 */
export function createAuditStore(
  config: { MONGO_URL?: string; MONGO_DB: string; QUEUE_PREFIX: string },
  redis: Redis,
): { store: AuditStore; start(): Promise<void>; close(): Promise<void> } {
  if (config.MONGO_URL) {
    const client = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: 5000, maxPoolSize: 2 });
    const store = new MongoAuditStore(client.db(config.MONGO_DB).collection('audit_log'));
    return {
      store: withStoreErrors(store, isMongoOutage),
      start: async () => {
        await client.connect();
      },
      close: () => client.close(),
    };
  }
  return {
    store: new RedisAuditStore(redis, config.QUEUE_PREFIX),
    start: async () => {},
    close: async () => {},
  };
}
