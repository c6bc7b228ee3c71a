/**
 * Every C name the uAPI data gives a value — ioctl request numbers, test ops,
 * enum and flag members, header constants — as a named export, so code
 * outside spec/uapi writes `IOMMU_IOAS_MAP_WRITEABLE`, never `2`.
 *
 * Nothing here is typed by hand: each value is looked up in the data
 * (commands.ts, enums.ts, checked against the kernel headers by the layout
 * probe) when the module loads. A name the two profiles give different values
 * would fail the lookup; none does today. Whether a profile has a name at all
 * is the data's business (enumValue(profile, name), commandByName…): code that
 * uses a 7.3-only flag still gates on the profile. Errnos are errno.ts's.
 *
 * constants.test.ts checks that this list is exactly cValues() of both profiles.
 */
import { cValues } from './names.ts';
import { PROFILES } from './profiles.ts';

const TABLES = PROFILES.map((p) => cValues(p));

/** The value of a uAPI name in whichever profile has it (the same in every profile that does). */
export function uapiValue(name: string): number {
  const values = new Set(TABLES.filter((t) => name in t).map((t) => t[name]!));
  if (values.size !== 1) throw new Error(`spec/uapi: ${name} ${values.size ? 'differs between profiles' : 'is not a uAPI name'}`);
  return [...values][0]!;
}

// ---- ioctl request numbers (commands.ts)
export const IOMMU_DESTROY = uapiValue('IOMMU_DESTROY');
export const IOMMU_IOAS_ALLOC = uapiValue('IOMMU_IOAS_ALLOC');
export const IOMMU_IOAS_ALLOW_IOVAS = uapiValue('IOMMU_IOAS_ALLOW_IOVAS');
export const IOMMU_IOAS_COPY = uapiValue('IOMMU_IOAS_COPY');
export const IOMMU_IOAS_IOVA_RANGES = uapiValue('IOMMU_IOAS_IOVA_RANGES');
export const IOMMU_IOAS_MAP = uapiValue('IOMMU_IOAS_MAP');
export const IOMMU_IOAS_UNMAP = uapiValue('IOMMU_IOAS_UNMAP');
export const IOMMU_OPTION = uapiValue('IOMMU_OPTION');
export const IOMMU_VFIO_IOAS = uapiValue('IOMMU_VFIO_IOAS');
export const IOMMU_HWPT_ALLOC = uapiValue('IOMMU_HWPT_ALLOC');
export const IOMMU_GET_HW_INFO = uapiValue('IOMMU_GET_HW_INFO');
export const IOMMU_HWPT_SET_DIRTY_TRACKING = uapiValue('IOMMU_HWPT_SET_DIRTY_TRACKING');
export const IOMMU_HWPT_GET_DIRTY_BITMAP = uapiValue('IOMMU_HWPT_GET_DIRTY_BITMAP');
export const IOMMU_HWPT_INVALIDATE = uapiValue('IOMMU_HWPT_INVALIDATE');
export const IOMMU_FAULT_QUEUE_ALLOC = uapiValue('IOMMU_FAULT_QUEUE_ALLOC');
export const IOMMU_IOAS_MAP_FILE = uapiValue('IOMMU_IOAS_MAP_FILE');
export const IOMMU_VIOMMU_ALLOC = uapiValue('IOMMU_VIOMMU_ALLOC');
export const IOMMU_VDEVICE_ALLOC = uapiValue('IOMMU_VDEVICE_ALLOC');
export const IOMMU_IOAS_CHANGE_PROCESS = uapiValue('IOMMU_IOAS_CHANGE_PROCESS');
export const IOMMU_VEVENTQ_ALLOC = uapiValue('IOMMU_VEVENTQ_ALLOC');
export const IOMMU_HW_QUEUE_ALLOC = uapiValue('IOMMU_HW_QUEUE_ALLOC');
export const IOMMU_IOAS_NOIOMMU_GET_PA = uapiValue('IOMMU_IOAS_NOIOMMU_GET_PA');
export const IOMMU_TEST_CMD = uapiValue('IOMMU_TEST_CMD');
export const VFIO_DEVICE_BIND_IOMMUFD = uapiValue('VFIO_DEVICE_BIND_IOMMUFD');
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = uapiValue('VFIO_DEVICE_ATTACH_IOMMUFD_PT');
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = uapiValue('VFIO_DEVICE_DETACH_IOMMUFD_PT');
export const VFIO_GET_API_VERSION = uapiValue('VFIO_GET_API_VERSION');
export const VFIO_CHECK_EXTENSION = uapiValue('VFIO_CHECK_EXTENSION');
export const VFIO_SET_IOMMU = uapiValue('VFIO_SET_IOMMU');
export const VFIO_IOMMU_GET_INFO = uapiValue('VFIO_IOMMU_GET_INFO');
export const VFIO_IOMMU_MAP_DMA = uapiValue('VFIO_IOMMU_MAP_DMA');
export const VFIO_IOMMU_UNMAP_DMA = uapiValue('VFIO_IOMMU_UNMAP_DMA');

// ---- IOMMU_TEST_CMD ops (iommufd_test.h)
export const IOMMU_TEST_OP_ADD_RESERVED = uapiValue('IOMMU_TEST_OP_ADD_RESERVED');
export const IOMMU_TEST_OP_MOCK_DOMAIN = uapiValue('IOMMU_TEST_OP_MOCK_DOMAIN');
export const IOMMU_TEST_OP_MD_CHECK_MAP = uapiValue('IOMMU_TEST_OP_MD_CHECK_MAP');
export const IOMMU_TEST_OP_MD_CHECK_REFS = uapiValue('IOMMU_TEST_OP_MD_CHECK_REFS');
export const IOMMU_TEST_OP_CREATE_ACCESS = uapiValue('IOMMU_TEST_OP_CREATE_ACCESS');
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = uapiValue('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES');
export const IOMMU_TEST_OP_ACCESS_PAGES = uapiValue('IOMMU_TEST_OP_ACCESS_PAGES');
export const IOMMU_TEST_OP_ACCESS_RW = uapiValue('IOMMU_TEST_OP_ACCESS_RW');
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = uapiValue('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT');
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = uapiValue('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = uapiValue('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS');
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = uapiValue('IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS');
export const IOMMU_TEST_OP_DIRTY = uapiValue('IOMMU_TEST_OP_DIRTY');
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = uapiValue('IOMMU_TEST_OP_MD_CHECK_IOTLB');
export const IOMMU_TEST_OP_TRIGGER_IOPF = uapiValue('IOMMU_TEST_OP_TRIGGER_IOPF');
export const IOMMU_TEST_OP_DEV_CHECK_CACHE = uapiValue('IOMMU_TEST_OP_DEV_CHECK_CACHE');
export const IOMMU_TEST_OP_TRIGGER_VEVENT = uapiValue('IOMMU_TEST_OP_TRIGGER_VEVENT');
export const IOMMU_TEST_OP_PASID_ATTACH = uapiValue('IOMMU_TEST_OP_PASID_ATTACH');
export const IOMMU_TEST_OP_PASID_REPLACE = uapiValue('IOMMU_TEST_OP_PASID_REPLACE');
export const IOMMU_TEST_OP_PASID_DETACH = uapiValue('IOMMU_TEST_OP_PASID_DETACH');
export const IOMMU_TEST_OP_PASID_CHECK_HWPT = uapiValue('IOMMU_TEST_OP_PASID_CHECK_HWPT');
export const IOMMU_TEST_OP_DMABUF_GET = uapiValue('IOMMU_TEST_OP_DMABUF_GET');
export const IOMMU_TEST_OP_DMABUF_REVOKE = uapiValue('IOMMU_TEST_OP_DMABUF_REVOKE');

// ---- iommufd_ioas_map_flags (linux/iommufd.h)
export const IOMMU_IOAS_MAP_FIXED_IOVA = uapiValue('IOMMU_IOAS_MAP_FIXED_IOVA');
export const IOMMU_IOAS_MAP_WRITEABLE = uapiValue('IOMMU_IOAS_MAP_WRITEABLE');
export const IOMMU_IOAS_MAP_READABLE = uapiValue('IOMMU_IOAS_MAP_READABLE');

// ---- iommufd_option (linux/iommufd.h)
export const IOMMU_OPTION_RLIMIT_MODE = uapiValue('IOMMU_OPTION_RLIMIT_MODE');
export const IOMMU_OPTION_HUGE_PAGES = uapiValue('IOMMU_OPTION_HUGE_PAGES');

// ---- iommufd_option_ops (linux/iommufd.h)
export const IOMMU_OPTION_OP_SET = uapiValue('IOMMU_OPTION_OP_SET');
export const IOMMU_OPTION_OP_GET = uapiValue('IOMMU_OPTION_OP_GET');

// ---- iommufd_vfio_ioas_op (linux/iommufd.h)
export const IOMMU_VFIO_IOAS_GET = uapiValue('IOMMU_VFIO_IOAS_GET');
export const IOMMU_VFIO_IOAS_SET = uapiValue('IOMMU_VFIO_IOAS_SET');
export const IOMMU_VFIO_IOAS_CLEAR = uapiValue('IOMMU_VFIO_IOAS_CLEAR');

// ---- iommufd_hwpt_alloc_flags (linux/iommufd.h)
export const IOMMU_HWPT_ALLOC_NEST_PARENT = uapiValue('IOMMU_HWPT_ALLOC_NEST_PARENT');
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = uapiValue('IOMMU_HWPT_ALLOC_DIRTY_TRACKING');
export const IOMMU_HWPT_FAULT_ID_VALID = uapiValue('IOMMU_HWPT_FAULT_ID_VALID');
export const IOMMU_HWPT_ALLOC_PASID = uapiValue('IOMMU_HWPT_ALLOC_PASID');

// ---- iommu_hwpt_vtd_s1_flags (linux/iommufd.h)
export const IOMMU_VTD_S1_SRE = uapiValue('IOMMU_VTD_S1_SRE');
export const IOMMU_VTD_S1_EAFE = uapiValue('IOMMU_VTD_S1_EAFE');
export const IOMMU_VTD_S1_WPE = uapiValue('IOMMU_VTD_S1_WPE');

// ---- iommu_hwpt_data_type (linux/iommufd.h)
export const IOMMU_HWPT_DATA_NONE = uapiValue('IOMMU_HWPT_DATA_NONE');
export const IOMMU_HWPT_DATA_VTD_S1 = uapiValue('IOMMU_HWPT_DATA_VTD_S1');
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = uapiValue('IOMMU_HWPT_DATA_ARM_SMMUV3');
export const IOMMU_HWPT_DATA_AMD_GUEST = uapiValue('IOMMU_HWPT_DATA_AMD_GUEST');
export const IOMMU_HWPT_DATA_SELFTEST = uapiValue('IOMMU_HWPT_DATA_SELFTEST');

// ---- iommu_hw_info_vtd_flags (linux/iommufd.h)
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = uapiValue('IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17');

// ---- iommu_hw_info_arm_smmuv3_flags (linux/iommufd.h)
export const IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI = uapiValue('IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI');

// ---- iommu_hw_info_type (linux/iommufd.h)
export const IOMMU_HW_INFO_TYPE_NONE = uapiValue('IOMMU_HW_INFO_TYPE_NONE');
export const IOMMU_HW_INFO_TYPE_DEFAULT = uapiValue('IOMMU_HW_INFO_TYPE_DEFAULT');
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = uapiValue('IOMMU_HW_INFO_TYPE_INTEL_VTD');
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = uapiValue('IOMMU_HW_INFO_TYPE_ARM_SMMUV3');
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = uapiValue('IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV');
export const IOMMU_HW_INFO_TYPE_AMD = uapiValue('IOMMU_HW_INFO_TYPE_AMD');
export const IOMMU_HW_INFO_TYPE_SELFTEST = uapiValue('IOMMU_HW_INFO_TYPE_SELFTEST');

// ---- iommufd_hw_capabilities (linux/iommufd.h)
export const IOMMU_HW_CAP_DIRTY_TRACKING = uapiValue('IOMMU_HW_CAP_DIRTY_TRACKING');
export const IOMMU_HW_CAP_PCI_PASID_EXEC = uapiValue('IOMMU_HW_CAP_PCI_PASID_EXEC');
export const IOMMU_HW_CAP_PCI_PASID_PRIV = uapiValue('IOMMU_HW_CAP_PCI_PASID_PRIV');
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = uapiValue('IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED');

// ---- iommufd_hw_info_flags (linux/iommufd.h)
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = uapiValue('IOMMU_HW_INFO_FLAG_INPUT_TYPE');

// ---- iommufd_hwpt_set_dirty_tracking_flags (linux/iommufd.h)
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = uapiValue('IOMMU_HWPT_DIRTY_TRACKING_ENABLE');

// ---- iommufd_hwpt_get_dirty_bitmap_flags (linux/iommufd.h)
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = uapiValue('IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR');

// ---- iommu_hwpt_invalidate_data_type (linux/iommufd.h)
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = uapiValue('IOMMU_HWPT_INVALIDATE_DATA_VTD_S1');
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = uapiValue('IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3');
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = uapiValue('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST');
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = uapiValue('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID');
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = uapiValue('IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST');
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID = uapiValue('IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID');

// ---- iommu_hwpt_vtd_s1_invalidate_flags (linux/iommufd.h)
export const IOMMU_VTD_INV_FLAGS_LEAF = uapiValue('IOMMU_VTD_INV_FLAGS_LEAF');

// ---- iommu_hwpt_pgfault_flags (linux/iommufd.h)
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = uapiValue('IOMMU_PGFAULT_FLAGS_PASID_VALID');
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = uapiValue('IOMMU_PGFAULT_FLAGS_LAST_PAGE');

// ---- iommu_hwpt_pgfault_perm (linux/iommufd.h)
export const IOMMU_PGFAULT_PERM_READ = uapiValue('IOMMU_PGFAULT_PERM_READ');
export const IOMMU_PGFAULT_PERM_WRITE = uapiValue('IOMMU_PGFAULT_PERM_WRITE');
export const IOMMU_PGFAULT_PERM_EXEC = uapiValue('IOMMU_PGFAULT_PERM_EXEC');
export const IOMMU_PGFAULT_PERM_PRIV = uapiValue('IOMMU_PGFAULT_PERM_PRIV');

// ---- iommufd_page_response_code (linux/iommufd.h)
export const IOMMUFD_PAGE_RESP_SUCCESS = uapiValue('IOMMUFD_PAGE_RESP_SUCCESS');
export const IOMMUFD_PAGE_RESP_INVALID = uapiValue('IOMMUFD_PAGE_RESP_INVALID');

// ---- iommu_viommu_type (linux/iommufd.h)
export const IOMMU_VIOMMU_TYPE_DEFAULT = uapiValue('IOMMU_VIOMMU_TYPE_DEFAULT');
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = uapiValue('IOMMU_VIOMMU_TYPE_ARM_SMMUV3');
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = uapiValue('IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV');
export const IOMMU_VIOMMU_TYPE_SELFTEST = uapiValue('IOMMU_VIOMMU_TYPE_SELFTEST');

// ---- iommu_veventq_flag (linux/iommufd.h)
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = uapiValue('IOMMU_VEVENTQ_FLAG_LOST_EVENTS');

// ---- iommu_veventq_type (linux/iommufd.h)
export const IOMMU_VEVENTQ_TYPE_DEFAULT = uapiValue('IOMMU_VEVENTQ_TYPE_DEFAULT');
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = uapiValue('IOMMU_VEVENTQ_TYPE_ARM_SMMUV3');
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = uapiValue('IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV');
export const IOMMU_VEVENTQ_TYPE_SELFTEST = uapiValue('IOMMU_VEVENTQ_TYPE_SELFTEST');

// ---- iommu_hw_queue_type (linux/iommufd.h)
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = uapiValue('IOMMU_HW_QUEUE_TYPE_DEFAULT');
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = uapiValue('IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV');
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = uapiValue('IOMMU_HW_QUEUE_TYPE_SELFTEST');

// ---- iommu_test_op (iommufd_test.h)

// ---- mock_flags_access (iommufd_test.h)
export const MOCK_FLAGS_ACCESS_WRITE = uapiValue('MOCK_FLAGS_ACCESS_WRITE');
export const MOCK_FLAGS_ACCESS_SYZ = uapiValue('MOCK_FLAGS_ACCESS_SYZ');

// ---- mock_access_rw_flags (iommufd_test.h)
export const MOCK_ACCESS_RW_WRITE = uapiValue('MOCK_ACCESS_RW_WRITE');
export const MOCK_ACCESS_RW_SLOW_PATH = uapiValue('MOCK_ACCESS_RW_SLOW_PATH');

// ---- mock_flags_access_create (iommufd_test.h)
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = uapiValue('MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');

// ---- mock_flags_device (iommufd_test.h)
export const MOCK_FLAGS_DEVICE_NO_DIRTY = uapiValue('MOCK_FLAGS_DEVICE_NO_DIRTY');
export const MOCK_FLAGS_DEVICE_HUGE_IOVA = uapiValue('MOCK_FLAGS_DEVICE_HUGE_IOVA');
export const MOCK_FLAGS_DEVICE_PASID = uapiValue('MOCK_FLAGS_DEVICE_PASID');

// ---- mock_iommupt (iommufd_test.h)
export const MOCK_IOMMUPT_DEFAULT = uapiValue('MOCK_IOMMUPT_DEFAULT');
export const MOCK_IOMMUPT_HUGE = uapiValue('MOCK_IOMMUPT_HUGE');

// ---- iommu_test_invalidate_flags (iommufd_test.h)
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = uapiValue('IOMMU_TEST_INVALIDATE_FLAG_ALL');

// ---- vfio_extension (linux/vfio.h)
export const VFIO_TYPE1_IOMMU = uapiValue('VFIO_TYPE1_IOMMU');
export const VFIO_SPAPR_TCE_IOMMU = uapiValue('VFIO_SPAPR_TCE_IOMMU');
export const VFIO_TYPE1v2_IOMMU = uapiValue('VFIO_TYPE1v2_IOMMU');
export const VFIO_DMA_CC_IOMMU = uapiValue('VFIO_DMA_CC_IOMMU');
export const VFIO_EEH = uapiValue('VFIO_EEH');
export const VFIO_TYPE1_NESTING_IOMMU = uapiValue('VFIO_TYPE1_NESTING_IOMMU');
export const __VFIO_RESERVED_TYPE1_NESTING_IOMMU = uapiValue('__VFIO_RESERVED_TYPE1_NESTING_IOMMU');
export const VFIO_SPAPR_TCE_v2_IOMMU = uapiValue('VFIO_SPAPR_TCE_v2_IOMMU');
export const VFIO_NOIOMMU_IOMMU = uapiValue('VFIO_NOIOMMU_IOMMU');
export const VFIO_UNMAP_ALL = uapiValue('VFIO_UNMAP_ALL');
export const VFIO_UPDATE_VADDR = uapiValue('VFIO_UPDATE_VADDR');

// ---- vfio_iommu_info_flags (linux/vfio.h)
export const VFIO_IOMMU_INFO_PGSIZES = uapiValue('VFIO_IOMMU_INFO_PGSIZES');
export const VFIO_IOMMU_INFO_CAPS = uapiValue('VFIO_IOMMU_INFO_CAPS');

// ---- vfio_iommu_type1_info_cap (linux/vfio.h)
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = uapiValue('VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE');
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = uapiValue('VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION');
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = uapiValue('VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL');

// ---- vfio_dma_map_flags (linux/vfio.h)
export const VFIO_DMA_MAP_FLAG_READ = uapiValue('VFIO_DMA_MAP_FLAG_READ');
export const VFIO_DMA_MAP_FLAG_WRITE = uapiValue('VFIO_DMA_MAP_FLAG_WRITE');
export const VFIO_DMA_MAP_FLAG_VADDR = uapiValue('VFIO_DMA_MAP_FLAG_VADDR');

// ---- vfio_dma_unmap_flags (linux/vfio.h)
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = uapiValue('VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP');
export const VFIO_DMA_UNMAP_FLAG_ALL = uapiValue('VFIO_DMA_UNMAP_FLAG_ALL');
export const VFIO_DMA_UNMAP_FLAG_VADDR = uapiValue('VFIO_DMA_UNMAP_FLAG_VADDR');

// ---- vfio_device_bind_flags (linux/vfio.h)
export const VFIO_DEVICE_BIND_FLAG_TOKEN = uapiValue('VFIO_DEVICE_BIND_FLAG_TOKEN');

// ---- vfio_device_attach_flags (linux/vfio.h)
export const VFIO_DEVICE_ATTACH_PASID = uapiValue('VFIO_DEVICE_ATTACH_PASID');

// ---- vfio_device_detach_flags (linux/vfio.h)
export const VFIO_DEVICE_DETACH_PASID = uapiValue('VFIO_DEVICE_DETACH_PASID');

// ---- header constants
export const IOMMUFD_TYPE = uapiValue('IOMMUFD_TYPE');
export const IOMMUFD_CMD_BASE = uapiValue('IOMMUFD_CMD_BASE');
export const VFIO_TYPE = uapiValue('VFIO_TYPE');
export const VFIO_BASE = uapiValue('VFIO_BASE');
export const VFIO_API_VERSION = uapiValue('VFIO_API_VERSION');
export const MOCK_APERTURE_START = uapiValue('MOCK_APERTURE_START');
export const MOCK_APERTURE_LAST = uapiValue('MOCK_APERTURE_LAST');
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = uapiValue('MOCK_NESTED_DOMAIN_IOTLB_ID_MAX');
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = uapiValue('MOCK_NESTED_DOMAIN_IOTLB_NUM');
export const IOMMU_HW_INFO_SELFTEST_REGVAL = uapiValue('IOMMU_HW_INFO_SELFTEST_REGVAL');
export const IOMMU_TEST_IOTLB_DEFAULT = uapiValue('IOMMU_TEST_IOTLB_DEFAULT');
export const MOCK_PAGE_SIZE = uapiValue('MOCK_PAGE_SIZE');
export const MOCK_HUGE_PAGE_SIZE = uapiValue('MOCK_HUGE_PAGE_SIZE');
export const MOCK_DEV_CACHE_ID_MAX = uapiValue('MOCK_DEV_CACHE_ID_MAX');
export const MOCK_DEV_CACHE_NUM = uapiValue('MOCK_DEV_CACHE_NUM');
export const IOMMU_TEST_PASID_RESERVED = uapiValue('IOMMU_TEST_PASID_RESERVED');
export const MOCK_PASID_WIDTH = uapiValue('MOCK_PASID_WIDTH');
export const IOMMU_TEST_DEV_CACHE_DEFAULT = uapiValue('IOMMU_TEST_DEV_CACHE_DEFAULT');
export const IOMMU_TEST_HW_QUEUE_MAX = uapiValue('IOMMU_TEST_HW_QUEUE_MAX');
