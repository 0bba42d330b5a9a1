import { MongoClient } from 'mongodb';
import { MongoRunStore } from '../../src/store/mongo-run-store';
import { runStoreContract } from './run-store.contract';

const MONGO_URL = process.env.MONGO_URL;

// The only skip in the suite: no MongoDB server here. Set MONGO_URL to run these against a real one; without
// it the real tests below are reported as skipped, and this line says why.
if (!MONGO_URL) {
  console.warn(
    'SKIPPED: MongoRunStore contract suite and index test need MONGO_URL (no MongoDB server configured)',
  );
}
const describeMongo = MONGO_URL ? describe : describe.skip;

describeMongo('MongoRunStore (needs MONGO_URL)', () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = new MongoClient(MONGO_URL!);
    await client.connect();
  });
  afterAll(() => client?.close());

  runStoreContract('MongoRunStore', async () => {
    const db = client.db(`jobs_monitor_test_${process.pid}_${Date.now()}`);
    return { store: new MongoRunStore(db), cleanup: () => db.dropDatabase().then(() => undefined) };
  });

  it('creates the seed indexes: job_id+started_at, status, TTL 7 days on started_at, sparse user_id+job_id', async () => {
    const db = client.db(`jobs_monitor_idx_${process.pid}_${Date.now()}`);
    const store = new MongoRunStore(db);
    await store.init();
    const idx = await db.collection('job_runs').indexes();
    const find = (key: object) => idx.find((i) => JSON.stringify(i.key) === JSON.stringify(key));
    expect(find({ job_id: 1, started_at: -1 })).toBeDefined();
    expect(find({ status: 1 })).toBeDefined();
    expect(find({ started_at: -1 })?.expireAfterSeconds).toBe(604800);
    expect(find({ user_id: 1, job_id: 1 })?.sparse).toBe(true);
    await db.dropDatabase();
  });
});
