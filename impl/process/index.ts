/**
 * The simulated process (see process.ts) and its files (file.ts). Its user
 * pages come from the machine's one physical memory (impl/iommu PhysMemory,
 * re-exported here), the memory page tables are allocated from too.
 */
export { PhysMemory, PhysMemoryPool, KIND_DATA, KIND_TABLE, PAGE_SIZE, PAGE_SHIFT } from '../lib/physmem.ts';
export * from './file.ts';
export * from './process.ts';
