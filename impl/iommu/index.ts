/**
 * Public API of the simulated IOMMU hardware and the IO page-table core.
 * See impl/pagetable/README.md for the contracts (errno conventions, units).
 */
export { PhysMemory, KIND_DATA, KIND_TABLE, PAGE_SIZE, PAGE_SHIFT, type PhysMemoryOptions } from '../lib/physmem.ts';
export {
  IommuInstance,
  Domain,
  type DomainConfig,
  type Vendor,
  type IommuInstanceOptions,
  type InvCmd,
  type Fault,
} from './instance.ts';
export {
  ACC_READ,
  ACC_WRITE,
  FAULT_TRANSLATION,
  FAULT_PERMISSION,
  FAULT_ADDRESS_SIZE,
  FAULT_S2,
  FAULT_NO_DOMAIN,
  FAULT_BUS,
  walk,
  walkTableFrom,
  WalkResult,
  type WalkTable,
} from './walker.ts';
export { Iotlb, WalkCache } from './iotlb.ts';
export * as errno from '../lib/errno.ts';
export {
  IOMMU_READ,
  IOMMU_WRITE,
  IOMMU_CACHE,
  IOMMU_NOEXEC,
  IOMMU_MMIO,
  IOMMU_PRIV,
  makeGeometry,
  type FormatConfig,
  type FormatName,
  type PtGeometry,
} from '../pagetable/format.ts';
export { IoPageTable, IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder } from '../pagetable/table.ts';
export { createPageTable } from '../pagetable/index.ts';
export { IotlbGather } from '../pagetable/gather.ts';
export { MockSparseTable, MOCK_APERTURE_START, MOCK_APERTURE_LAST, MOCK_IO_PAGE_SIZE, MOCK_HUGE_PAGE_SIZE } from '../pagetable/mock612.ts';
export { bestPgsizeLg2, iommuPgsize } from '../pagetable/pgsize.ts';
