/**
 * Every ioctl command of the spec, per profile.
 *
 * iommufd commands: drivers/iommu/iommufd/main.c iommufd_ioctl_ops[] (IOCTL_OP:
 * struct and the `_last` field whose offsetofend is min_size).
 * VFIO cdev commands: drivers/vfio/device_cdev.c (minsz and how the rest is read).
 * VFIO type1 compat on an iommufd: drivers/iommu/iommufd/vfio_compat.c.
 */
import type { Profile } from './profiles.ts';
import type { ArgKind, CommandDef, FdKind, TestOpDef, VfioExtension } from './types.ts';

const BOTH = ['6.12', '7.3'] as const;
const P73 = ['7.3'] as const;
const P612 = ['6.12'] as const;

/** _IO(type, nr): neither direction nor size bits, as every command here uses. */
export function ioctlIO(type: number, nr: number): number {
  return ((type & 0xff) << 8) | (nr & 0xff);
}

/** _IOC_NR(cmd). */
export function ioctlNr(cmd: number): number {
  return cmd & 0xff;
}

const IOMMUFD_TYPE = 0x3b;
const VFIO_BASE = 100;

interface Spec {
  readonly struct?: string;
  readonly minLast?: string;
  readonly profiles?: readonly Profile[];
  readonly vfioTail?: 'ignore' | 'copy-struct';
  readonly vfioRead?: 'copy-minsz' | 'get-argsz';
  readonly extensions?: readonly VfioExtension[];
  readonly testOnly?: boolean;
  readonly answerFault?: 'unwinds' | 'detaches';
  readonly doc?: string;
}

/** The answer carries a new object's id: a fault copying it back destroys the object (CommandDef.answerFault). */
const UNWINDS = { answerFault: 'unwinds' } as const;

function cmd(name: string, nr: number, fd: FdKind, arg: ArgKind, handler: string, spec: Spec = {}): CommandDef {
  const { profiles = BOTH, ...rest } = spec;
  return { name, nr, request: ioctlIO(IOMMUFD_TYPE, nr), fd, arg, handler, profiles, ...rest };
}

function iommufd(name: string, nr: number, struct: string, minLast: string, handler: string, spec: Spec = {}): CommandDef {
  return cmd(name, nr, 'iommufd', 'extensible', handler, { struct, minLast, ...spec });
}

export const COMMANDS: readonly CommandDef[] = [
  iommufd('IOMMU_DESTROY', 0x80, 'iommu_destroy', 'id', 'iommufd_destroy'),
  iommufd('IOMMU_IOAS_ALLOC', 0x81, 'iommu_ioas_alloc', 'out_ioas_id', 'iommufd_ioas_alloc_ioctl', UNWINDS),
  iommufd('IOMMU_IOAS_ALLOW_IOVAS', 0x82, 'iommu_ioas_allow_iovas', 'allowed_iovas', 'iommufd_ioas_allow_iovas'),
  iommufd('IOMMU_IOAS_COPY', 0x83, 'iommu_ioas_copy', 'src_iova', 'iommufd_ioas_copy'),
  iommufd('IOMMU_IOAS_IOVA_RANGES', 0x84, 'iommu_ioas_iova_ranges', 'out_iova_alignment', 'iommufd_ioas_iova_ranges'),
  iommufd('IOMMU_IOAS_MAP', 0x85, 'iommu_ioas_map', 'iova', 'iommufd_ioas_map'),
  iommufd('IOMMU_IOAS_UNMAP', 0x86, 'iommu_ioas_unmap', 'length', 'iommufd_ioas_unmap'),
  iommufd('IOMMU_OPTION', 0x87, 'iommu_option', 'val64', 'iommufd_option'),
  iommufd('IOMMU_VFIO_IOAS', 0x88, 'iommu_vfio_ioas', '__reserved', 'iommufd_vfio_ioas'),
  iommufd('IOMMU_HWPT_ALLOC', 0x89, 'iommu_hwpt_alloc', '__reserved', 'iommufd_hwpt_alloc', UNWINDS),
  iommufd('IOMMU_GET_HW_INFO', 0x8a, 'iommu_hw_info', '__reserved', 'iommufd_get_hw_info'),
  iommufd('IOMMU_HWPT_SET_DIRTY_TRACKING', 0x8b, 'iommu_hwpt_set_dirty_tracking', '__reserved', 'iommufd_hwpt_set_dirty_tracking'),
  iommufd('IOMMU_HWPT_GET_DIRTY_BITMAP', 0x8c, 'iommu_hwpt_get_dirty_bitmap', 'data', 'iommufd_hwpt_get_dirty_bitmap'),
  iommufd('IOMMU_HWPT_INVALIDATE', 0x8d, 'iommu_hwpt_invalidate', '__reserved', 'iommufd_hwpt_invalidate'),
  iommufd('IOMMU_FAULT_QUEUE_ALLOC', 0x8e, 'iommu_fault_alloc', 'out_fault_fd', 'iommufd_fault_alloc', UNWINDS),
  iommufd('IOMMU_IOAS_MAP_FILE', 0x8f, 'iommu_ioas_map_file', 'iova', 'iommufd_ioas_map_file', { profiles: P73 }),
  iommufd('IOMMU_VIOMMU_ALLOC', 0x90, 'iommu_viommu_alloc', 'out_viommu_id', 'iommufd_viommu_alloc_ioctl', {
    profiles: P73, ...UNWINDS,
    doc: 'min size ends at out_viommu_id (24): data_len/data_uptr were appended later',
  }),
  iommufd('IOMMU_VDEVICE_ALLOC', 0x91, 'iommu_vdevice_alloc', 'virt_id', 'iommufd_vdevice_alloc_ioctl', { profiles: P73, ...UNWINDS }),
  iommufd('IOMMU_IOAS_CHANGE_PROCESS', 0x92, 'iommu_ioas_change_process', '__reserved', 'iommufd_ioas_change_process', { profiles: P73 }),
  iommufd('IOMMU_VEVENTQ_ALLOC', 0x93, 'iommu_veventq_alloc', 'out_veventq_fd', 'iommufd_veventq_alloc', {
    profiles: P73, ...UNWINDS,
    doc: 'min size ends at out_veventq_fd (28), one u32 short of sizeof (32)',
  }),
  iommufd('IOMMU_HW_QUEUE_ALLOC', 0x94, 'iommu_hw_queue_alloc', 'length', 'iommufd_hw_queue_alloc_ioctl', { profiles: P73, ...UNWINDS }),
  iommufd('IOMMU_IOAS_NOIOMMU_GET_PA', 0x95, 'iommu_ioas_noiommu_get_pa', 'out_phys', 'iommufd_ioas_noiommu_get_pa', { profiles: P73 }),
  iommufd('IOMMU_TEST_CMD', 0xa0, 'iommu_test_cmd', 'last', 'iommufd_test', {
    testOnly: true,
    doc: 'only with CONFIG_IOMMUFD_TEST; extends the ioctl table to 0xa0',
  }),

  // VFIO cdev (drivers/vfio/device_cdev.c), on /dev/vfio/devices/vfioX.
  cmd('VFIO_DEVICE_BIND_IOMMUFD', VFIO_BASE + 18, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_bind_iommufd', {
    struct: 'vfio_device_bind_iommufd',
    minLast: 'out_devid',
    ...UNWINDS,
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    profiles: P612,
  }),
  cmd('VFIO_DEVICE_BIND_IOMMUFD', VFIO_BASE + 18, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_bind_iommufd', {
    struct: 'vfio_device_bind_iommufd',
    minLast: 'out_devid',
    ...UNWINDS,
    vfioRead: 'get-argsz',
    vfioTail: 'copy-struct',
    profiles: P73,
    doc: '7.3 reads argsz with get_user and the struct with copy_struct_from_user: a non-zero byte beyond sizeof is E2BIG',
  }),
  cmd('VFIO_DEVICE_ATTACH_IOMMUFD_PT', VFIO_BASE + 19, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_attach_pt', {
    struct: 'vfio_device_attach_iommufd_pt',
    minLast: 'pt_id',
    answerFault: 'detaches',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    profiles: P612,
  }),
  cmd('VFIO_DEVICE_ATTACH_IOMMUFD_PT', VFIO_BASE + 19, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_attach_pt', {
    struct: 'vfio_device_attach_iommufd_pt',
    minLast: 'pt_id',
    answerFault: 'detaches',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    extensions: [{ flag: 'VFIO_DEVICE_ATTACH_PASID', last: 'pasid' }],
    profiles: P73,
  }),
  cmd('VFIO_DEVICE_DETACH_IOMMUFD_PT', VFIO_BASE + 20, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_detach_pt', {
    struct: 'vfio_device_detach_iommufd_pt',
    minLast: 'flags',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    profiles: P612,
  }),
  cmd('VFIO_DEVICE_DETACH_IOMMUFD_PT', VFIO_BASE + 20, 'vfio-device', 'vfio-argsz', 'vfio_df_ioctl_detach_pt', {
    struct: 'vfio_device_detach_iommufd_pt',
    minLast: 'flags',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    extensions: [{ flag: 'VFIO_DEVICE_DETACH_PASID', last: 'pasid' }],
    profiles: P73,
  }),

  // VFIO type1 compat on an iommufd (vfio_compat.c: iommufd_vfio_ioctl).
  cmd('VFIO_GET_API_VERSION', VFIO_BASE + 0, 'iommufd', 'none', 'iommufd_vfio_ioctl', { doc: 'returns VFIO_API_VERSION (0)' }),
  cmd('VFIO_CHECK_EXTENSION', VFIO_BASE + 1, 'iommufd', 'int', 'iommufd_vfio_check_extension', { doc: 'arg: a vfio_extension id' }),
  cmd('VFIO_SET_IOMMU', VFIO_BASE + 2, 'iommufd', 'int', 'iommufd_vfio_set_iommu', { doc: 'arg: VFIO_TYPE1_IOMMU or VFIO_TYPE1v2_IOMMU' }),
  cmd('VFIO_IOMMU_GET_INFO', VFIO_BASE + 12, 'iommufd', 'vfio-argsz', 'iommufd_vfio_iommu_get_info', {
    struct: 'vfio_iommu_type1_info',
    minLast: 'iova_pgsizes',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    doc: 'copies back min(argsz, sizeof) bytes; capabilities follow the struct when argsz leaves room',
  }),
  cmd('VFIO_IOMMU_MAP_DMA', VFIO_BASE + 13, 'iommufd', 'vfio-argsz', 'iommufd_vfio_map_dma', {
    struct: 'vfio_iommu_type1_dma_map',
    minLast: 'size',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
  }),
  cmd('VFIO_IOMMU_UNMAP_DMA', VFIO_BASE + 14, 'iommufd', 'vfio-argsz', 'iommufd_vfio_unmap_dma', {
    struct: 'vfio_iommu_type1_dma_unmap',
    minLast: 'size',
    vfioRead: 'copy-minsz',
    vfioTail: 'ignore',
    doc: 'copies back minsz bytes (size = bytes unmapped)',
  }),
];

/** IOMMU_TEST_CMD ops (iommufd_test.h; served by selftest.c: iommufd_test, unknown op → EOPNOTSUPP). */
export const TEST_OPS: readonly TestOpDef[] = [
  { name: 'IOMMU_TEST_OP_ADD_RESERVED', value: 1, member: 'add_reserved', profiles: BOTH, handler: 'iommufd_test_add_reserved' },
  { name: 'IOMMU_TEST_OP_MOCK_DOMAIN', value: 2, member: 'mock_domain', profiles: BOTH, handler: 'iommufd_test_mock_domain', ...UNWINDS },
  { name: 'IOMMU_TEST_OP_MD_CHECK_MAP', value: 3, member: 'check_map', profiles: BOTH, handler: 'iommufd_test_md_check_pa' },
  { name: 'IOMMU_TEST_OP_MD_CHECK_REFS', value: 4, member: 'check_refs', profiles: BOTH, handler: 'iommufd_test_md_check_refs' },
  { name: 'IOMMU_TEST_OP_CREATE_ACCESS', value: 5, member: 'create_access', profiles: BOTH, memberFlags: { errno: 'EOPNOTSUPP' }, handler: 'iommufd_test_create_access', ...UNWINDS },
  { name: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', value: 6, member: 'destroy_access_pages', profiles: BOTH, handler: 'iommufd_test_access_item_destroy' },
  { name: 'IOMMU_TEST_OP_ACCESS_PAGES', value: 7, member: 'access_pages', profiles: BOTH, memberFlags: { errno: 'EOPNOTSUPP' }, handler: 'iommufd_test_access_pages', ...UNWINDS },
  { name: 'IOMMU_TEST_OP_ACCESS_RW', value: 8, member: 'access_rw', profiles: BOTH, memberFlags: { errno: 'EOPNOTSUPP', alsoAccepts: ['MOCK_FLAGS_ACCESS_SYZ'] }, handler: 'iommufd_test_access_rw' },
  { name: 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', value: 9, member: 'memory_limit', profiles: BOTH, handler: 'iommufd_test (inline)' },
  { name: 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', value: 10, member: 'mock_domain_replace', profiles: BOTH, handler: 'iommufd_test_mock_domain_replace' },
  { name: 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', value: 11, member: 'access_replace_ioas', profiles: BOTH, handler: 'iommufd_test_access_replace_ioas' },
  { name: 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', value: 12, member: 'mock_domain_flags', profiles: BOTH, handler: 'iommufd_test_mock_domain', ...UNWINDS },
  { name: 'IOMMU_TEST_OP_DIRTY', value: 13, member: 'dirty', profiles: BOTH, handler: 'iommufd_test_dirty' },
  { name: 'IOMMU_TEST_OP_MD_CHECK_IOTLB', value: 14, member: 'check_iotlb', profiles: BOTH, handler: 'iommufd_test_md_check_iotlb' },
  { name: 'IOMMU_TEST_OP_TRIGGER_IOPF', value: 15, member: 'trigger_iopf', profiles: BOTH, handler: 'iommufd_test_trigger_iopf' },
  { name: 'IOMMU_TEST_OP_DEV_CHECK_CACHE', value: 16, member: 'check_dev_cache', profiles: P73, handler: 'iommufd_test_dev_check_cache' },
  { name: 'IOMMU_TEST_OP_TRIGGER_VEVENT', value: 17, member: 'trigger_vevent', profiles: P73, handler: 'iommufd_test_trigger_vevent' },
  { name: 'IOMMU_TEST_OP_PASID_ATTACH', value: 18, member: 'pasid_attach', profiles: P73, handler: 'iommufd_test_pasid_attach', answerFault: 'detaches' },
  // selftest.c reads cmd->pasid_attach for this op (same layout as the pasid_replace member the selftests fill).
  { name: 'IOMMU_TEST_OP_PASID_REPLACE', value: 19, member: 'pasid_attach', profiles: P73, handler: 'iommufd_test_pasid_replace' },
  { name: 'IOMMU_TEST_OP_PASID_DETACH', value: 20, member: 'pasid_detach', profiles: P73, handler: 'iommufd_test_pasid_detach' },
  { name: 'IOMMU_TEST_OP_PASID_CHECK_HWPT', value: 21, member: 'pasid_check', profiles: P73, handler: 'iommufd_test_pasid_check_hwpt' },
  { name: 'IOMMU_TEST_OP_DMABUF_GET', value: 22, member: 'dmabuf_get', profiles: P73, handler: 'iommufd_test_dmabuf_get' },
  { name: 'IOMMU_TEST_OP_DMABUF_REVOKE', value: 23, member: 'dmabuf_revoke', profiles: P73, handler: 'iommufd_test_dmabuf_revoke' },
];
