/**
 * The uAPI numbers the system machine reads, from spec/uapi (never literals):
 * flags, option ids, test-op member values. They do not differ between the
 * profiles where both have them; a name a profile lacks reads as 0.
 */
import { enumValue } from '../../spec/uapi/index.ts';

const NAMES = [
  'IOMMU_IOAS_MAP_FIXED_IOVA',
  'IOMMU_HWPT_ALLOC_NEST_PARENT',
  'IOMMU_HWPT_ALLOC_DIRTY_TRACKING',
  'IOMMU_HWPT_FAULT_ID_VALID',
  'IOMMU_HWPT_ALLOC_PASID',
  'IOMMU_HWPT_DIRTY_TRACKING_ENABLE',
  'IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR',
  'IOMMU_OPTION_RLIMIT_MODE',
  'IOMMU_OPTION_HUGE_PAGES',
  'IOMMU_OPTION_OP_SET',
  'IOMMU_OPTION_OP_GET',
  'IOMMU_VFIO_IOAS_GET',
  'IOMMU_VFIO_IOAS_SET',
  'IOMMU_VFIO_IOAS_CLEAR',
  'IOMMU_VEVENTQ_TYPE_SELFTEST',
  'MOCK_FLAGS_DEVICE_NO_DIRTY',
  'MOCK_FLAGS_DEVICE_PASID',
  'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES',
  'MOCK_FLAGS_ACCESS_SYZ',
  'VFIO_TYPE1_IOMMU',
  'VFIO_TYPE1v2_IOMMU',
  'VFIO_DMA_UNMAP_FLAG_ALL',
  'VFIO_DMA_MAP_FLAG_READ',
  'VFIO_DMA_MAP_FLAG_WRITE',
  'VFIO_DEVICE_ATTACH_PASID',
  'VFIO_DEVICE_DETACH_PASID',
] as const;

type Name = (typeof NAMES)[number];

function read(): Record<Name, number> {
  const out = {} as Record<Name, number>;
  for (const n of NAMES) out[n] = enumValue('7.3', n) ?? enumValue('6.12', n) ?? 0;
  return out;
}

export const U: Readonly<Record<Name, number>> = read();
