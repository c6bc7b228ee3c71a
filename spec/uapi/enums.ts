/**
 * Enums and flag sets of the uAPI, per profile. Names are the C enum names
 * where the header names the enum; for anonymous enums and #define groups the
 * name is ours (noted in `doc`). Selftest values from iommufd_test.h that a
 * uAPI field takes are included with `testOnly: true`.
 */
import type { EnumDef, EnumMember } from './types.ts';

const P73 = ['7.3'] as const;
const P612 = ['6.12'] as const;

const m = (name: string, value: number, extra: Omit<EnumMember, 'name' | 'value'> = {}): EnumMember => ({ name, value, ...extra });
const t = (name: string, value: number, extra: Omit<EnumMember, 'name' | 'value'> = {}): EnumMember => ({ name, value, testOnly: true, ...extra });

export const ENUMS: readonly EnumDef[] = [
  // ---------------------------------------------------------------- iommufd.h
  {
    name: 'iommufd_ioas_map_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_IOAS_MAP_FIXED_IOVA', 1), m('IOMMU_IOAS_MAP_WRITEABLE', 2), m('IOMMU_IOAS_MAP_READABLE', 4)],
  },
  {
    name: 'iommufd_option',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_OPTION_RLIMIT_MODE', 0), m('IOMMU_OPTION_HUGE_PAGES', 1)],
  },
  { name: 'iommufd_option_ops', kind: 'values', header: 'linux/iommufd.h', members: [m('IOMMU_OPTION_OP_SET', 0), m('IOMMU_OPTION_OP_GET', 1)] },
  {
    name: 'iommufd_vfio_ioas_op',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_VFIO_IOAS_GET', 0), m('IOMMU_VFIO_IOAS_SET', 1), m('IOMMU_VFIO_IOAS_CLEAR', 2)],
  },
  {
    name: 'iommufd_hwpt_alloc_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [
      m('IOMMU_HWPT_ALLOC_NEST_PARENT', 1),
      m('IOMMU_HWPT_ALLOC_DIRTY_TRACKING', 2),
      m('IOMMU_HWPT_FAULT_ID_VALID', 4),
      m('IOMMU_HWPT_ALLOC_PASID', 8, { profiles: P73 }),
    ],
  },
  {
    name: 'iommu_hwpt_vtd_s1_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_VTD_S1_SRE', 1), m('IOMMU_VTD_S1_EAFE', 2), m('IOMMU_VTD_S1_WPE', 4)],
  },
  {
    name: 'iommu_hwpt_data_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [
      m('IOMMU_HWPT_DATA_NONE', 0),
      m('IOMMU_HWPT_DATA_VTD_S1', 1),
      m('IOMMU_HWPT_DATA_ARM_SMMUV3', 2, { profiles: P73 }),
      m('IOMMU_HWPT_DATA_AMD_GUEST', 3, { profiles: P73 }),
      t('IOMMU_HWPT_DATA_SELFTEST', 0xdead, { doc: 'struct iommu_hwpt_selftest' }),
    ],
  },
  { name: 'iommu_hw_info_vtd_flags', kind: 'flags', header: 'linux/iommufd.h', members: [m('IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17', 1)] },
  {
    name: 'iommu_hw_info_arm_smmuv3_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    profiles: P73,
    members: [m('IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI', 1)],
  },
  {
    name: 'iommu_hw_info_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [
      m('IOMMU_HW_INFO_TYPE_NONE', 0),
      m('IOMMU_HW_INFO_TYPE_DEFAULT', 0, { profiles: P73, doc: 'alias of NONE, as an input type' }),
      m('IOMMU_HW_INFO_TYPE_INTEL_VTD', 1),
      m('IOMMU_HW_INFO_TYPE_ARM_SMMUV3', 2, { profiles: P73 }),
      m('IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV', 3, { profiles: P73 }),
      m('IOMMU_HW_INFO_TYPE_AMD', 4, { profiles: P73 }),
      t('IOMMU_HW_INFO_TYPE_SELFTEST', 0xfeedbeef, { doc: 'struct iommu_test_hw_info' }),
    ],
  },
  {
    name: 'iommufd_hw_capabilities',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [
      m('IOMMU_HW_CAP_DIRTY_TRACKING', 1),
      m('IOMMU_HW_CAP_PCI_PASID_EXEC', 2),
      m('IOMMU_HW_CAP_PCI_PASID_PRIV', 4),
      m('IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED', 8, { profiles: P73 }),
    ],
  },
  {
    name: 'iommufd_hw_info_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    doc: '6.12 has no flags for IOMMU_GET_HW_INFO (flags must be 0).',
    members: [m('IOMMU_HW_INFO_FLAG_INPUT_TYPE', 1, { profiles: P73 })],
  },
  { name: 'iommufd_hwpt_set_dirty_tracking_flags', kind: 'flags', header: 'linux/iommufd.h', members: [m('IOMMU_HWPT_DIRTY_TRACKING_ENABLE', 1)] },
  { name: 'iommufd_hwpt_get_dirty_bitmap_flags', kind: 'flags', header: 'linux/iommufd.h', members: [m('IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR', 1)] },
  {
    name: 'iommu_hwpt_invalidate_data_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [
      m('IOMMU_HWPT_INVALIDATE_DATA_VTD_S1', 0),
      m('IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3', 1, { profiles: P73 }),
      t('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST', 0xdeadbeef, { doc: 'struct iommu_hwpt_invalidate_selftest' }),
      t('IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID', 0xdadbeef),
      t('IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST', 0xdeadbeef, { profiles: P73, doc: 'struct iommu_viommu_invalidate_selftest (vIOMMU invalidation of the mock)' }),
      t('IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID', 0xdadbeef, { profiles: P73 }),
    ],
  },
  { name: 'iommu_hwpt_vtd_s1_invalidate_flags', kind: 'flags', header: 'linux/iommufd.h', members: [m('IOMMU_VTD_INV_FLAGS_LEAF', 1)] },
  {
    name: 'iommu_hwpt_pgfault_flags',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_PGFAULT_FLAGS_PASID_VALID', 1), m('IOMMU_PGFAULT_FLAGS_LAST_PAGE', 2)],
  },
  {
    name: 'iommu_hwpt_pgfault_perm',
    kind: 'flags',
    header: 'linux/iommufd.h',
    members: [m('IOMMU_PGFAULT_PERM_READ', 1), m('IOMMU_PGFAULT_PERM_WRITE', 2), m('IOMMU_PGFAULT_PERM_EXEC', 4), m('IOMMU_PGFAULT_PERM_PRIV', 8)],
  },
  {
    name: 'iommufd_page_response_code',
    kind: 'values',
    header: 'linux/iommufd.h',
    members: [m('IOMMUFD_PAGE_RESP_SUCCESS', 0), m('IOMMUFD_PAGE_RESP_INVALID', 1)],
  },
  {
    name: 'iommu_viommu_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    profiles: P73,
    members: [
      m('IOMMU_VIOMMU_TYPE_DEFAULT', 0),
      m('IOMMU_VIOMMU_TYPE_ARM_SMMUV3', 1),
      m('IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV', 2),
      t('IOMMU_VIOMMU_TYPE_SELFTEST', 0xdeadbeef, { doc: 'struct iommu_viommu_selftest' }),
    ],
  },
  { name: 'iommu_veventq_flag', kind: 'flags', header: 'linux/iommufd.h', profiles: P73, members: [m('IOMMU_VEVENTQ_FLAG_LOST_EVENTS', 1)] },
  {
    name: 'iommu_veventq_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    profiles: P73,
    members: [
      m('IOMMU_VEVENTQ_TYPE_DEFAULT', 0),
      m('IOMMU_VEVENTQ_TYPE_ARM_SMMUV3', 1),
      m('IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV', 2),
      t('IOMMU_VEVENTQ_TYPE_SELFTEST', 0xbeefbeef, { doc: 'struct iommu_viommu_event_selftest' }),
    ],
  },
  {
    name: 'iommu_hw_queue_type',
    kind: 'values',
    header: 'linux/iommufd.h',
    profiles: P73,
    members: [m('IOMMU_HW_QUEUE_TYPE_DEFAULT', 0), m('IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV', 1), t('IOMMU_HW_QUEUE_TYPE_SELFTEST', 0xdeadbeef)],
  },
  // ----------------------------------------------------------- iommufd_test.h
  {
    name: 'iommu_test_op',
    kind: 'values',
    header: 'iommufd_test.h',
    doc: 'anonymous enum IOMMU_TEST_OP_*; see TEST_OPS for the union member each reads',
    members: [
      m('IOMMU_TEST_OP_ADD_RESERVED', 1),
      m('IOMMU_TEST_OP_MOCK_DOMAIN', 2),
      m('IOMMU_TEST_OP_MD_CHECK_MAP', 3),
      m('IOMMU_TEST_OP_MD_CHECK_REFS', 4),
      m('IOMMU_TEST_OP_CREATE_ACCESS', 5),
      m('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', 6),
      m('IOMMU_TEST_OP_ACCESS_PAGES', 7),
      m('IOMMU_TEST_OP_ACCESS_RW', 8),
      m('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', 9),
      m('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', 10),
      m('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', 11),
      m('IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', 12),
      m('IOMMU_TEST_OP_DIRTY', 13),
      m('IOMMU_TEST_OP_MD_CHECK_IOTLB', 14),
      m('IOMMU_TEST_OP_TRIGGER_IOPF', 15),
      m('IOMMU_TEST_OP_DEV_CHECK_CACHE', 16, { profiles: P73 }),
      m('IOMMU_TEST_OP_TRIGGER_VEVENT', 17, { profiles: P73 }),
      m('IOMMU_TEST_OP_PASID_ATTACH', 18, { profiles: P73 }),
      m('IOMMU_TEST_OP_PASID_REPLACE', 19, { profiles: P73 }),
      m('IOMMU_TEST_OP_PASID_DETACH', 20, { profiles: P73 }),
      m('IOMMU_TEST_OP_PASID_CHECK_HWPT', 21, { profiles: P73 }),
      m('IOMMU_TEST_OP_DMABUF_GET', 22, { profiles: P73 }),
      m('IOMMU_TEST_OP_DMABUF_REVOKE', 23, { profiles: P73 }),
    ],
  },
  {
    name: 'mock_flags_access',
    kind: 'flags',
    header: 'iommufd_test.h',
    doc: 'anonymous enum; access_pages.flags',
    members: [m('MOCK_FLAGS_ACCESS_WRITE', 1), m('MOCK_FLAGS_ACCESS_SYZ', 1 << 16)],
  },
  {
    name: 'mock_access_rw_flags',
    kind: 'flags',
    header: 'iommufd_test.h',
    doc: 'anonymous enum; access_rw.flags',
    members: [m('MOCK_ACCESS_RW_WRITE', 1), m('MOCK_ACCESS_RW_SLOW_PATH', 4)],
  },
  {
    name: 'mock_flags_access_create',
    kind: 'flags',
    header: 'iommufd_test.h',
    doc: 'anonymous enum; create_access.flags',
    members: [m('MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES', 1)],
  },
  {
    name: 'mock_flags_device',
    kind: 'flags',
    header: 'iommufd_test.h',
    doc: 'anonymous enum; mock_domain_flags.dev_flags',
    members: [
      m('MOCK_FLAGS_DEVICE_NO_DIRTY', 1),
      m('MOCK_FLAGS_DEVICE_HUGE_IOVA', 2, { profiles: P612, doc: '7.3 selects huge pages with iommu_hwpt_selftest.pagetable_type instead' }),
      m('MOCK_FLAGS_DEVICE_PASID', 4, { profiles: P73 }),
    ],
  },
  {
    name: 'mock_iommupt',
    kind: 'values',
    header: 'iommufd_test.h',
    profiles: P73,
    doc: 'anonymous enum; iommu_hwpt_selftest.pagetable_type',
    members: [m('MOCK_IOMMUPT_DEFAULT', 0), m('MOCK_IOMMUPT_HUGE', 1)],
  },
  {
    name: 'iommu_test_invalidate_flags',
    kind: 'flags',
    header: 'iommufd_test.h',
    doc: '#define IOMMU_TEST_INVALIDATE_FLAG_ALL',
    members: [m('IOMMU_TEST_INVALIDATE_FLAG_ALL', 1)],
  },
  // ------------------------------------------------------------------ vfio.h
  {
    name: 'vfio_extension',
    kind: 'values',
    header: 'linux/vfio.h',
    doc: '#defines: VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU arguments',
    members: [
      m('VFIO_TYPE1_IOMMU', 1),
      m('VFIO_SPAPR_TCE_IOMMU', 2),
      m('VFIO_TYPE1v2_IOMMU', 3),
      m('VFIO_DMA_CC_IOMMU', 4),
      m('VFIO_EEH', 5),
      m('VFIO_TYPE1_NESTING_IOMMU', 6, { profiles: P612 }),
      m('__VFIO_RESERVED_TYPE1_NESTING_IOMMU', 6, { profiles: P73 }),
      m('VFIO_SPAPR_TCE_v2_IOMMU', 7),
      m('VFIO_NOIOMMU_IOMMU', 8),
      m('VFIO_UNMAP_ALL', 9),
      m('VFIO_UPDATE_VADDR', 10),
    ],
  },
  {
    name: 'vfio_iommu_info_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_iommu_type1_info',
    members: [m('VFIO_IOMMU_INFO_PGSIZES', 1), m('VFIO_IOMMU_INFO_CAPS', 2)],
  },
  {
    name: 'vfio_iommu_type1_info_cap',
    kind: 'values',
    header: 'linux/vfio.h',
    doc: '#defines: vfio_info_cap_header.id of the type1 info capability chain',
    members: [m('VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE', 1), m('VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION', 2), m('VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL', 3)],
  },
  {
    name: 'vfio_dma_map_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_iommu_type1_dma_map',
    members: [m('VFIO_DMA_MAP_FLAG_READ', 1), m('VFIO_DMA_MAP_FLAG_WRITE', 2), m('VFIO_DMA_MAP_FLAG_VADDR', 4)],
  },
  {
    name: 'vfio_dma_unmap_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_iommu_type1_dma_unmap',
    members: [m('VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP', 1), m('VFIO_DMA_UNMAP_FLAG_ALL', 2), m('VFIO_DMA_UNMAP_FLAG_VADDR', 4)],
  },
  {
    name: 'vfio_device_bind_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_device_bind_iommufd (6.12: none, flags must be 0)',
    members: [m('VFIO_DEVICE_BIND_FLAG_TOKEN', 1, { profiles: P73 })],
  },
  {
    name: 'vfio_device_attach_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_device_attach_iommufd_pt (6.12: none, flags must be 0)',
    members: [m('VFIO_DEVICE_ATTACH_PASID', 1, { profiles: P73 })],
  },
  {
    name: 'vfio_device_detach_flags',
    kind: 'flags',
    header: 'linux/vfio.h',
    doc: '#defines in struct vfio_device_detach_iommufd_pt (6.12: none, flags must be 0)',
    members: [m('VFIO_DEVICE_DETACH_PASID', 1, { profiles: P73 })],
  },
];

/** Scalar constants from the headers that are not enum members. */
export const CONSTANTS = {
  IOMMUFD_TYPE: 0x3b, // ';'
  IOMMUFD_CMD_BASE: 0x80,
  VFIO_TYPE: 0x3b,
  VFIO_BASE: 100,
  VFIO_API_VERSION: 0,
  // iommufd_test.h
  MOCK_APERTURE_START: 1 << 24,
  MOCK_APERTURE_LAST: 2 ** 31 - 1,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX: 3,
  MOCK_NESTED_DOMAIN_IOTLB_NUM: 4,
  IOMMU_HW_INFO_SELFTEST_REGVAL: 0xdeadbeef,
  IOMMU_TEST_IOTLB_DEFAULT: 0xbadbeef,
} as const;

/** Constants that exist in one profile only. */
export const PROFILE_CONSTANTS = {
  '6.12': {},
  '7.3': {
    MOCK_PAGE_SIZE: 2048,
    MOCK_HUGE_PAGE_SIZE: 512 * 2048,
    MOCK_DEV_CACHE_ID_MAX: 3,
    MOCK_DEV_CACHE_NUM: 4,
    IOMMU_TEST_PASID_RESERVED: 1024,
    MOCK_PASID_WIDTH: 20,
    IOMMU_TEST_DEV_CACHE_DEFAULT: 0xbaddad,
    IOMMU_TEST_HW_QUEUE_MAX: 2,
  },
} as const;
