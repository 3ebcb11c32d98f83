import { MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';

blobStoreContract('memory', {
  async create() {
    return new MemoryBlobStore();
  },
  async reopen(store) {
    await store.close();
    return new MemoryBlobStore((store as MemoryBlobStore).data);
  },
  async cleanup() {},
});
