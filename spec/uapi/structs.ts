/**
 * Every struct of the iommufd uAPI (include/uapi/linux/iommufd.h), the VFIO
 * structs iommufd users need (include/uapi/linux/vfio.h) and the selftest
 * structs (drivers/iommu/iommufd/iommufd_test.h), per profile.
 *
 * Field order and types follow the C declarations of each profile's tree;
 * layouts are computed from them (layout.ts) and checked against gcc
 * (layouts/linux-<profile>.json, produced by scripts/layout-probe.ts).
 * `u64` below is `__aligned_u64`/`__u64`/`__aligned_le64` (all 8-aligned on x86-64).
 */
import { argszField, array, field, inline, reserved, sizeField, structRef } from './define.ts';
import type { StructDef } from './types.ts';
import { TEST_OPS } from './commands.ts';

const P73 = ['7.3'] as const;
const P612 = ['6.12'] as const;

const IOMMUFD = 'linux/iommufd.h' as const;
const VFIO = 'linux/vfio.h' as const;
const TEST = 'iommufd_test.h' as const;

// ---------------------------------------------------------------- iommufd.h
const iommufdStructs: StructDef[] = [
  {
    name: 'iommu_destroy',
    header: IOMMUFD,
    fields: [sizeField(), field('id', 'u32', 'in', { doc: 'object id to destroy (any type)' })],
  },
  {
    name: 'iommu_ioas_alloc',
    header: IOMMUFD,
    fields: [sizeField(), field('flags', 'u32', 'flags', { doc: 'must be 0' }), field('out_ioas_id', 'u32', 'out')],
  },
  {
    name: 'iommu_iova_range',
    header: IOMMUFD,
    doc: 'An inclusive IOVA range [start, last].',
    fields: [field('start', 'u64', 'inout'), field('last', 'u64', 'inout')],
  },
  {
    name: 'iommu_ioas_iova_ranges',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('ioas_id', 'u32', 'in'),
      field('num_iovas', 'u32', 'inout', { doc: 'in: capacity of allowed_iovas; out: total number of ranges' }),
      reserved(),
      field('allowed_iovas', 'ptr', 'in', {
        pointee: { what: 'array of struct iommu_iova_range (the usable IOVA ranges)', struct: 'iommu_iova_range', countField: 'num_iovas', dir: 'out' },
      }),
      field('out_iova_alignment', 'u64', 'out'),
    ],
  },
  {
    name: 'iommu_ioas_allow_iovas',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('ioas_id', 'u32', 'in'),
      field('num_iovas', 'u32', 'in'),
      reserved(),
      field('allowed_iovas', 'ptr', 'in', {
        pointee: { what: 'array of struct iommu_iova_range (the new allowed list)', struct: 'iommu_iova_range', countField: 'num_iovas', dir: 'in' },
      }),
    ],
  },
  {
    name: 'iommu_ioas_map',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { flags: 'iommufd_ioas_map_flags' }),
      field('ioas_id', 'u32', 'in'),
      reserved(),
      field('user_va', 'ptr', 'in', { pointee: { what: 'user memory to map', lengthField: 'length', dir: 'inout' } }),
      field('length', 'u64', 'in'),
      field('iova', 'u64', 'inout', { doc: 'in with FIXED_IOVA, else out' }),
    ],
  },
  {
    name: 'iommu_ioas_noiommu_get_pa',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { doc: 'must be 0' }),
      field('ioas_id', 'u32', 'in'),
      reserved(),
      field('iova', 'u64', 'in'),
      field('length', 'u64', 'inout', { doc: 'in: max bytes to query; out: contiguous bytes from out_phys' }),
      field('out_phys', 'u64', 'out'),
    ],
  },
  {
    name: 'iommu_ioas_map_file',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { flags: 'iommufd_ioas_map_flags' }),
      field('ioas_id', 'u32', 'in'),
      field('fd', 's32', 'in', { doc: 'memfd (or dma-buf) to map' }),
      field('start', 'u64', 'in', { doc: 'byte offset in the file' }),
      field('length', 'u64', 'in'),
      field('iova', 'u64', 'inout'),
    ],
  },
  {
    name: 'iommu_ioas_copy',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { flags: 'iommufd_ioas_map_flags' }),
      field('dst_ioas_id', 'u32', 'in'),
      field('src_ioas_id', 'u32', 'in'),
      field('length', 'u64', 'in'),
      field('dst_iova', 'u64', 'inout'),
      field('src_iova', 'u64', 'in'),
    ],
  },
  {
    name: 'iommu_ioas_unmap',
    header: IOMMUFD,
    fields: [sizeField(), field('ioas_id', 'u32', 'in'), field('iova', 'u64', 'in'), field('length', 'u64', 'inout', { doc: 'out: bytes unmapped' })],
  },
  {
    name: 'iommu_option',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('option_id', 'u32', 'in', { enum: 'iommufd_option' }),
      field('op', 'u16', 'in', { enum: 'iommufd_option_ops' }),
      reserved('__reserved', 'u16'),
      field('object_id', 'u32', 'in'),
      field('val64', 'u64', 'inout'),
    ],
  },
  {
    name: 'iommu_vfio_ioas',
    header: IOMMUFD,
    fields: [sizeField(), field('ioas_id', 'u32', 'inout'), field('op', 'u16', 'in', { enum: 'iommufd_vfio_ioas_op' }), reserved('__reserved', 'u16')],
  },
  {
    name: 'iommu_hwpt_vtd_s1',
    header: IOMMUFD,
    doc: 'HWPT_ALLOC data for IOMMU_HWPT_DATA_VTD_S1.',
    fields: [
      field('flags', 'u64', 'flags', { flags: 'iommu_hwpt_vtd_s1_flags' }),
      field('pgtbl_addr', 'u64', 'in'),
      field('addr_width', 'u32', 'in'),
      reserved(),
    ],
  },
  {
    name: 'iommu_hwpt_arm_smmuv3',
    header: IOMMUFD,
    profiles: P73,
    doc: 'HWPT_ALLOC data for IOMMU_HWPT_DATA_ARM_SMMUV3 (guest STE, little-endian words).',
    fields: [field('ste', array('u64', 2), 'in')],
  },
  {
    name: 'iommu_hwpt_amd_guest',
    header: IOMMUFD,
    profiles: P73,
    doc: 'HWPT_ALLOC data for IOMMU_HWPT_DATA_AMD_GUEST (guest DTE).',
    fields: [field('dte', array('u64', 4), 'in')],
  },
  {
    name: 'iommu_hwpt_alloc',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { flags: 'iommufd_hwpt_alloc_flags' }),
      field('dev_id', 'u32', 'in'),
      field('pt_id', 'u32', 'in', { doc: 'IOAS, NEST_PARENT HWPT_PAGING (or vIOMMU in 7.3)' }),
      field('out_hwpt_id', 'u32', 'out'),
      reserved(),
      field('data_type', 'u32', 'in', { enum: 'iommu_hwpt_data_type' }),
      field('data_len', 'u32', 'in'),
      field('data_uptr', 'ptr', 'in', {
        pointee: { what: 'driver data selected by data_type (e.g. struct iommu_hwpt_vtd_s1)', lengthField: 'data_len', dir: 'in' },
      }),
      field('fault_id', 'u32', 'in', { doc: 'valid with IOMMU_HWPT_FAULT_ID_VALID' }),
      reserved('__reserved2', 'u32', { doc: 'must be 0 (not checked by 6.12)' }),
    ],
  },
  {
    name: 'iommu_hw_info_vtd',
    header: IOMMUFD,
    doc: 'GET_HW_INFO data for IOMMU_HW_INFO_TYPE_INTEL_VTD.',
    fields: [
      field('flags', 'u32', 'out', { flags: 'iommu_hw_info_vtd_flags' }),
      reserved(),
      field('cap_reg', 'u64', 'out'),
      field('ecap_reg', 'u64', 'out'),
    ],
  },
  {
    name: 'iommu_hw_info_arm_smmuv3',
    header: IOMMUFD,
    profiles: P73,
    doc: 'GET_HW_INFO data for IOMMU_HW_INFO_TYPE_ARM_SMMUV3.',
    fields: [
      field('flags', 'u32', 'out', { flags: 'iommu_hw_info_arm_smmuv3_flags' }),
      reserved(),
      field('idr', array('u32', 6), 'out'),
      field('iidr', 'u32', 'out'),
      field('aidr', 'u32', 'out'),
    ],
  },
  {
    name: 'iommu_hw_info_tegra241_cmdqv',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      field('flags', 'u32', 'out'),
      field('version', 'u8', 'out'),
      field('log2vcmdqs', 'u8', 'out'),
      field('log2vsids', 'u8', 'out'),
      reserved('__reserved', 'u8'),
    ],
  },
  {
    name: 'iommu_hw_info_amd',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('efr', 'u64', 'out'), field('efr2', 'u64', 'out')],
  },
  {
    name: 'iommu_hw_info',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { doc: '6.12: must be 0; 7.3: iommufd_hw_info_flags', flags: 'iommufd_hw_info_flags' }),
      field('dev_id', 'u32', 'in'),
      field('data_len', 'u32', 'inout', { doc: 'in: buffer length; out: driver data length' }),
      field('data_uptr', 'ptr', 'in', {
        pointee: { what: 'driver hw-info struct selected by out_data_type (e.g. struct iommu_hw_info_vtd)', lengthField: 'data_len', dir: 'out' },
      }),
      field('out_data_type', 'u32', 'out', { profiles: P612, enum: 'iommu_hw_info_type' }),
      inline(
        '',
        true,
        [
          field('in_data_type', 'u32', 'in', { enum: 'iommu_hw_info_type', doc: 'with IOMMU_HW_INFO_FLAG_INPUT_TYPE' }),
          field('out_data_type', 'u32', 'out', { enum: 'iommu_hw_info_type' }),
        ],
        'inout',
        { profiles: P73 },
      ),
      field('out_max_pasid_log2', 'u8', 'out'),
      reserved('__reserved', array('u8', 3)),
      field('out_capabilities', 'u64', 'out', { flags: 'iommufd_hw_capabilities' }),
    ],
  },
  {
    name: 'iommu_hwpt_set_dirty_tracking',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { flags: 'iommufd_hwpt_set_dirty_tracking_flags' }),
      field('hwpt_id', 'u32', 'in'),
      reserved('__reserved', 'u32', { doc: 'must be 0 (not checked by 6.12)' }),
    ],
  },
  {
    name: 'iommu_hwpt_get_dirty_bitmap',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('hwpt_id', 'u32', 'in'),
      field('flags', 'u32', 'flags', { flags: 'iommufd_hwpt_get_dirty_bitmap_flags' }),
      reserved(),
      field('iova', 'u64', 'in'),
      field('length', 'u64', 'in'),
      field('page_size', 'u64', 'in'),
      field('data', 'ptr', 'in', {
        pointee: { what: 'bitmap of u64 words, one bit per page_size granule of [iova, iova+length)', lengthField: 'length', dir: 'out' },
      }),
    ],
  },
  {
    name: 'iommu_hwpt_vtd_s1_invalidate',
    header: IOMMUFD,
    doc: 'HWPT_INVALIDATE entry for IOMMU_HWPT_INVALIDATE_DATA_VTD_S1.',
    fields: [
      field('addr', 'u64', 'in'),
      field('npages', 'u64', 'in'),
      field('flags', 'u32', 'flags', { flags: 'iommu_hwpt_vtd_s1_invalidate_flags' }),
      reserved(),
    ],
  },
  {
    name: 'iommu_viommu_arm_smmuv3_invalidate',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('cmd', array('u64', 2), 'in')],
  },
  {
    name: 'iommu_hwpt_invalidate',
    header: IOMMUFD,
    fields: [
      sizeField(),
      field('hwpt_id', 'u32', 'in', { doc: 'HWPT_NESTED (7.3: or vIOMMU)' }),
      field('data_uptr', 'ptr', 'in', {
        pointee: { what: 'array of invalidation entries of data_type', countField: 'entry_num', entryLenField: 'entry_len', dir: 'in' },
      }),
      field('data_type', 'u32', 'in', { enum: 'iommu_hwpt_invalidate_data_type' }),
      field('entry_len', 'u32', 'in'),
      field('entry_num', 'u32', 'inout', { doc: 'out: entries handled' }),
      reserved(),
    ],
  },
  {
    name: 'iommu_hwpt_pgfault',
    header: IOMMUFD,
    doc: 'One fault record read from a fault queue fd.',
    fields: [
      field('flags', 'u32', 'out', { flags: 'iommu_hwpt_pgfault_flags' }),
      field('dev_id', 'u32', 'out'),
      field('pasid', 'u32', 'out'),
      field('grpid', 'u32', 'out'),
      field('perm', 'u32', 'out', { flags: 'iommu_hwpt_pgfault_perm' }),
      reserved(),
      field('addr', 'u64', 'out'),
      field('length', 'u32', 'out'),
      field('cookie', 'u32', 'out'),
    ],
  },
  {
    name: 'iommu_hwpt_page_response',
    header: IOMMUFD,
    doc: 'One response written to a fault queue fd.',
    fields: [field('cookie', 'u32', 'in'), field('code', 'u32', 'in', { enum: 'iommufd_page_response_code' })],
  },
  {
    name: 'iommu_fault_alloc',
    header: IOMMUFD,
    fields: [sizeField(), field('flags', 'u32', 'flags', { doc: 'must be 0' }), field('out_fault_id', 'u32', 'out'), field('out_fault_fd', 'u32', 'out')],
  },
  {
    name: 'iommu_viommu_tegra241_cmdqv',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('out_vintf_mmap_offset', 'u64', 'out'), field('out_vintf_mmap_length', 'u64', 'out')],
  },
  {
    name: 'iommu_viommu_alloc',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { doc: 'must be 0' }),
      field('type', 'u32', 'in', { enum: 'iommu_viommu_type' }),
      field('dev_id', 'u32', 'in'),
      field('hwpt_id', 'u32', 'in'),
      field('out_viommu_id', 'u32', 'out'),
      field('data_len', 'u32', 'in'),
      reserved(),
      field('data_uptr', 'ptr', 'in', { pointee: { what: 'driver vIOMMU data selected by type', lengthField: 'data_len', dir: 'inout' } }),
    ],
  },
  {
    name: 'iommu_vdevice_alloc',
    header: IOMMUFD,
    profiles: P73,
    fields: [sizeField(), field('viommu_id', 'u32', 'in'), field('dev_id', 'u32', 'in'), field('out_vdevice_id', 'u32', 'out'), field('virt_id', 'u64', 'in')],
  },
  {
    name: 'iommu_ioas_change_process',
    header: IOMMUFD,
    profiles: P73,
    fields: [sizeField(), reserved()],
  },
  {
    name: 'iommufd_vevent_header',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('flags', 'u32', 'out', { flags: 'iommu_veventq_flag' }), field('sequence', 'u32', 'out')],
  },
  {
    name: 'iommu_vevent_arm_smmuv3',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('evt', array('u64', 4), 'out')],
  },
  {
    name: 'iommu_vevent_tegra241_cmdqv',
    header: IOMMUFD,
    profiles: P73,
    fields: [field('lvcmdq_err_map', array('u64', 2), 'out')],
  },
  {
    name: 'iommu_veventq_alloc',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { doc: 'must be 0' }),
      field('viommu_id', 'u32', 'in'),
      field('type', 'u32', 'in', { enum: 'iommu_veventq_type' }),
      field('veventq_depth', 'u32', 'in'),
      field('out_veventq_id', 'u32', 'out'),
      field('out_veventq_fd', 'u32', 'out'),
      reserved(),
    ],
  },
  {
    name: 'iommu_hw_queue_alloc',
    header: IOMMUFD,
    profiles: P73,
    fields: [
      sizeField(),
      field('flags', 'u32', 'flags', { doc: 'must be 0' }),
      field('viommu_id', 'u32', 'in'),
      field('type', 'u32', 'in', { enum: 'iommu_hw_queue_type' }),
      field('index', 'u32', 'in'),
      field('out_hw_queue_id', 'u32', 'out'),
      field('nesting_parent_iova', 'u64', 'in'),
      field('length', 'u64', 'in'),
    ],
  },
];

// ----------------------------------------------------------- iommufd_test.h
/** Union members of struct iommu_test_cmd: [member, fields, profiles?]. */
const testCmdMembers = [
  inline('add_reserved', false, [field('start', 'u64', 'in'), field('length', 'u64', 'in')], 'in'),
  inline('mock_domain', false, [field('out_stdev_id', 'u32', 'out'), field('out_hwpt_id', 'u32', 'out'), field('out_idev_id', 'u32', 'out')], 'out'),
  inline(
    'mock_domain_flags',
    false,
    [
      field('out_stdev_id', 'u32', 'out'),
      field('out_hwpt_id', 'u32', 'out'),
      field('out_idev_id', 'u32', 'out'),
      field('dev_flags', 'u32', 'in', { flags: 'mock_flags_device' }),
    ],
    'inout',
  ),
  inline('mock_domain_replace', false, [field('pt_id', 'u32', 'inout')], 'inout'),
  inline(
    'check_map',
    false,
    [field('iova', 'u64', 'in'), field('length', 'u64', 'in'), field('uptr', 'ptr', 'in', { pointee: { what: 'user memory expected at iova', lengthField: 'length', dir: 'in' } })],
    'in',
  ),
  inline(
    'check_refs',
    false,
    [field('length', 'u64', 'in'), field('uptr', 'ptr', 'in', { pointee: { what: 'user memory whose page pin counts are checked', lengthField: 'length', dir: 'in' } }), field('refs', 'u32', 'in')],
    'in',
  ),
  inline('create_access', false, [field('out_access_fd', 'u32', 'out'), field('flags', 'u32', 'flags', { flags: 'mock_flags_access_create' })], 'inout'),
  inline('destroy_access_pages', false, [field('access_pages_id', 'u32', 'in')], 'in'),
  inline(
    'access_pages',
    false,
    [
      field('flags', 'u32', 'flags', { flags: 'mock_flags_access' }),
      field('out_access_pages_id', 'u32', 'out'),
      field('iova', 'u64', 'in'),
      field('length', 'u64', 'in'),
      field('uptr', 'ptr', 'in', { pointee: { what: 'user memory compared with the pinned pages', lengthField: 'length', dir: 'in' } }),
    ],
    'inout',
  ),
  inline(
    'access_rw',
    false,
    [
      field('iova', 'u64', 'in'),
      field('length', 'u64', 'in'),
      field('uptr', 'ptr', 'in', { pointee: { what: 'user buffer read from or written to the IOAS', lengthField: 'length', dir: 'inout' } }),
      field('flags', 'u32', 'flags', { flags: 'mock_access_rw_flags' }),
    ],
    'in',
  ),
  inline('memory_limit', false, [field('limit', 'u32', 'in')], 'in'),
  inline('access_replace_ioas', false, [field('ioas_id', 'u32', 'in')], 'in'),
  inline(
    'dirty',
    false,
    [
      field('flags', 'u32', 'flags'),
      field('iova', 'u64', 'in'),
      field('length', 'u64', 'in'),
      field('page_size', 'u64', 'in'),
      field('uptr', 'ptr', 'in', { pointee: { what: 'bitmap of granules to mark dirty', lengthField: 'length', dir: 'in' } }),
      field('out_nr_dirty', 'u64', 'out'),
    ],
    'inout',
  ),
  inline('check_iotlb', false, [field('id', 'u32', 'in'), field('iotlb', 'u32', 'in')], 'in'),
  inline(
    'trigger_iopf',
    false,
    [field('dev_id', 'u32', 'in'), field('pasid', 'u32', 'in'), field('grpid', 'u32', 'in'), field('perm', 'u32', 'in', { flags: 'iommu_hwpt_pgfault_perm' }), field('addr', 'u64', 'in')],
    'in',
  ),
  inline('check_dev_cache', false, [field('id', 'u32', 'in'), field('cache', 'u32', 'in')], 'in', { profiles: P73 }),
  inline('trigger_vevent', false, [field('dev_id', 'u32', 'in')], 'in', { profiles: P73 }),
  inline('pasid_attach', false, [field('pasid', 'u32', 'in'), field('pt_id', 'u32', 'inout')], 'inout', { profiles: P73 }),
  inline('pasid_replace', false, [field('pasid', 'u32', 'in'), field('pt_id', 'u32', 'inout')], 'inout', { profiles: P73 }),
  inline('pasid_detach', false, [field('pasid', 'u32', 'in')], 'in', { profiles: P73 }),
  inline('pasid_check', false, [field('pasid', 'u32', 'in'), field('hwpt_id', 'u32', 'in')], 'in', { profiles: P73 }),
  inline('dmabuf_get', false, [field('length', 'u32', 'in'), field('open_flags', 'u32', 'in')], 'in', { profiles: P73 }),
  inline('dmabuf_revoke', false, [field('dmabuf_fd', 's32', 'in'), field('revoked', 'u32', 'in')], 'in', { profiles: P73 }),
];

/** Union member → the op values that select it, from TEST_OPS. */
function testOpMembers(): { [member: string]: number[] } {
  const out: { [member: string]: number[] } = {};
  for (const o of TEST_OPS) if (o.member) (out[o.member] ??= []).push(o.value);
  return out;
}

const testStructs: StructDef[] = [
  {
    name: 'iommu_test_cmd',
    header: TEST,
    doc: 'IOMMU_TEST_CMD argument: one union member per op (see TEST_OPS); `last` marks the minimum size.',
    fields: [
      sizeField(),
      field('op', 'u32', 'in', { enum: 'iommu_test_op' }),
      field('id', 'u32', 'in'),
      reserved(),
      inline('', true, testCmdMembers, 'inout', {
        // iommufd_test() switches on op; the member each op reads (TEST_OPS).
        discriminant: {
          field: 'op',
          members: testOpMembers(),
        },
      }),
      field('last', 'u32', 'reserved', { doc: 'marks the end; minimum size is offsetofend(last)' }),
    ],
  },
  {
    name: 'iommu_test_hw_info',
    header: TEST,
    doc: 'GET_HW_INFO data for IOMMU_HW_INFO_TYPE_SELFTEST.',
    fields: [field('flags', 'u32', 'out'), field('test_reg', 'u32', 'out')],
  },
  {
    name: 'iommu_hwpt_selftest',
    header: TEST,
    doc: 'HWPT_ALLOC data for IOMMU_HWPT_DATA_SELFTEST.',
    fields: [field('iotlb', 'u32', 'in'), field('pagetable_type', 'u32', 'in', { profiles: P73, enum: 'mock_iommupt' })],
  },
  {
    name: 'iommu_hwpt_invalidate_selftest',
    header: TEST,
    doc: 'HWPT_INVALIDATE entry for IOMMU_HWPT_INVALIDATE_DATA_SELFTEST.',
    fields: [field('flags', 'u32', 'flags', { flags: 'iommu_test_invalidate_flags' }), field('iotlb_id', 'u32', 'in')],
  },
  {
    name: 'iommu_viommu_selftest',
    header: TEST,
    profiles: P73,
    fields: [field('in_data', 'u32', 'in'), field('out_data', 'u32', 'out'), field('out_mmap_offset', 'u64', 'out'), field('out_mmap_length', 'u64', 'out')],
  },
  {
    name: 'iommu_viommu_invalidate_selftest',
    header: TEST,
    profiles: P73,
    fields: [field('flags', 'u32', 'flags', { flags: 'iommu_test_invalidate_flags' }), field('vdev_id', 'u32', 'in'), field('cache_id', 'u32', 'in')],
  },
  {
    name: 'iommu_viommu_event_selftest',
    header: TEST,
    profiles: P73,
    fields: [field('virt_id', 'u32', 'out')],
  },
];

// ------------------------------------------------------------------ vfio.h
const vfioStructs: StructDef[] = [
  {
    name: 'vfio_device_bind_iommufd',
    header: VFIO,
    fields: [
      argszField(),
      field('flags', 'u32', 'flags', { flags: 'vfio_device_bind_flags', doc: '6.12: must be 0' }),
      field('iommufd', 's32', 'in'),
      field('out_devid', 'u32', 'out'),
      field('token_uuid_ptr', 'ptr', 'in', {
        profiles: P73,
        pointee: { what: '16-byte VF token UUID (with VFIO_DEVICE_BIND_FLAG_TOKEN)', dir: 'in' },
      }),
    ],
  },
  {
    name: 'vfio_device_attach_iommufd_pt',
    header: VFIO,
    fields: [
      argszField(),
      field('flags', 'u32', 'flags', { flags: 'vfio_device_attach_flags', doc: '6.12: must be 0' }),
      field('pt_id', 'u32', 'inout', { doc: 'out: the HWPT actually attached' }),
      field('pasid', 'u32', 'in', { profiles: P73, doc: 'with VFIO_DEVICE_ATTACH_PASID' }),
    ],
  },
  {
    name: 'vfio_device_detach_iommufd_pt',
    header: VFIO,
    fields: [
      argszField(),
      field('flags', 'u32', 'flags', { flags: 'vfio_device_detach_flags', doc: '6.12: must be 0' }),
      field('pasid', 'u32', 'in', { profiles: P73, doc: 'with VFIO_DEVICE_DETACH_PASID' }),
    ],
  },
  {
    name: 'vfio_iommu_type1_info',
    header: VFIO,
    fields: [
      field('argsz', 'u32', 'argsz', { doc: 'out: size needed for every capability' }),
      field('flags', 'u32', 'out', { flags: 'vfio_iommu_info_flags' }),
      field('iova_pgsizes', 'u64', 'out'),
      field('cap_offset', 'u32', 'out', { doc: 'offset of the first vfio_info_cap_header, 0 if none fit' }),
      reserved('pad', 'u32'),
    ],
  },
  {
    name: 'vfio_info_cap_header',
    header: VFIO,
    fields: [
      field('id', 'u16', 'out', { enum: 'vfio_iommu_type1_info_cap' }),
      field('version', 'u16', 'out'),
      field('next', 'u32', 'out', { doc: 'offset of the next capability from the start of the info struct, 0 = last' }),
    ],
  },
  {
    name: 'vfio_iova_range',
    header: VFIO,
    doc: 'An inclusive IOVA range [start, end].',
    fields: [field('start', 'u64', 'out'), field('end', 'u64', 'out')],
  },
  {
    name: 'vfio_iommu_type1_info_cap_iova_range',
    header: VFIO,
    fields: [
      field('header', structRef('vfio_info_cap_header'), 'out'),
      field('nr_iovas', 'u32', 'out'),
      reserved('reserved', 'u32'),
      field('iova_ranges', array(structRef('vfio_iova_range'), 0), 'out', { doc: 'flexible array of nr_iovas ranges' }),
    ],
  },
  {
    name: 'vfio_iommu_type1_info_cap_migration',
    header: VFIO,
    doc: 'Declared by vfio.h; iommufd does not emit it.',
    fields: [
      field('header', structRef('vfio_info_cap_header'), 'out'),
      field('flags', 'u32', 'out'),
      field('pgsize_bitmap', 'u64', 'out'),
      field('max_dirty_bitmap_size', 'u64', 'out'),
    ],
  },
  {
    name: 'vfio_iommu_type1_info_dma_avail',
    header: VFIO,
    fields: [field('header', structRef('vfio_info_cap_header'), 'out'), field('avail', 'u32', 'out')],
  },
  {
    name: 'vfio_iommu_type1_dma_map',
    header: VFIO,
    fields: [
      argszField(),
      field('flags', 'u32', 'flags', { flags: 'vfio_dma_map_flags' }),
      field('vaddr', 'ptr', 'in', { pointee: { what: 'user memory to map', lengthField: 'size', dir: 'inout' } }),
      field('iova', 'u64', 'in'),
      field('size', 'u64', 'in'),
    ],
  },
  {
    name: 'vfio_iommu_type1_dma_unmap',
    header: VFIO,
    fields: [
      argszField(),
      field('flags', 'u32', 'flags', { flags: 'vfio_dma_unmap_flags' }),
      field('iova', 'u64', 'in'),
      field('size', 'u64', 'inout', { doc: 'out: bytes unmapped' }),
      field('data', array('u8', 0), 'in', { doc: 'flexible array (dirty bitmap, unused by iommufd)' }),
    ],
  },
];

export const STRUCTS: readonly StructDef[] = [...iommufdStructs, ...testStructs, ...vfioStructs];
