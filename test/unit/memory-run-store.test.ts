import { MemoryRunStore } from '../../src/store/memory-run-store';
import { runStoreContract } from '../integration/run-store.contract';

// The contract every store passes, run on the in-memory store the unit tests use as their seam.
runStoreContract('MemoryRunStore', async () => ({
  store: new MemoryRunStore(),
  cleanup: async () => undefined,
}));
