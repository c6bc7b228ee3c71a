/**
 * Pinning and locked-memory accounting (drivers/iommu/iommufd/pages.c), as
 * the reference implements them (impl/iommufd/pages.ts).
 */
import { BOTH, type Clause } from './types.ts';

const PAGES = 'drivers/iommu/iommufd/pages.c';

export const clauses: Clause[] = [
  {
    id: 'PAGES.PIN_ONCE',
    kind: 'accounting',
    statement:
      'An iopt_pages pins each page once however many domains and accesses use it (MD_CHECK_REFS sees one pin); pins are dropped when the last user goes.',
    source: { file: PAGES, function: 'iopt_area_fill_domains' },
    profiles: BOTH,
    checks: ['ref.ioas_copy.pins-once', 'ref.mock.map-pins-once-two-domains', 'ref.iopt.domain-mirrors-areas', 'ref.access.pin-and-rw', 'ref.iopt.random-sequences-keep-invariants'],
  },
  {
    id: 'PAGES.ACCOUNT_USER',
    kind: 'accounting',
    statement: 'By default pins are charged to the user’s locked_vm against RLIMIT_MEMLOCK; over the limit the pin fails with ENOMEM and everything just pinned is unpinned and uncharged.',
    source: { file: PAGES, function: 'incr_user_locked_vm' },
    profiles: BOTH,
    checks: ['ref.pages.rlimit-user-enomem', 'ref.mock.rlimit'],
  },
  {
    id: 'PAGES.ACCOUNT_MM',
    kind: 'accounting',
    statement: 'In RLIMIT_MODE 1 (or a /dev/vfio/vfio context) pins are charged to the mm’s locked_vm, VFIO style, with the same ENOMEM limit, never bypassed (__account_locked_vm with bypass_rlim false): pages mapped without CAP_IPC_LOCK are charged against the limit when pinned, whatever the caller holds by then.',
    source: { file: PAGES, function: 'update_mm_locked_vm' },
    profiles: BOTH,
    checks: ['ref.pages.rlimit-mm-mode', 'suite.invariants.memlock-holds-after-cap-regained'],
  },
  {
    id: 'PAGES.CAP_IPC_LOCK',
    kind: 'accounting',
    statement: 'Memory mapped by a process with CAP_IPC_LOCK is not charged (ACCOUNT_NONE); pinned_vm still counts every pin.',
    source: { file: PAGES, function: 'iopt_alloc_pages' },
    profiles: BOTH,
    checks: ['ref.pages.cap-ipc-lock-exempt'],
  },
  {
    id: 'PAGES.RELEASE',
    kind: 'accounting',
    statement: 'Unmapping, removing the last domain, unpinning accesses and closing the file return pins, pinned_vm and locked_vm to zero.',
    source: { file: PAGES, function: 'update_unpinned' },
    profiles: BOTH,
    checks: ['ref.ioas_copy.pins-once', 'ref.pages.rlimit-user-enomem', 'ref.mock.close-releases-everything', 'suite.invariants.user-charge-gone-after-close'],
  },
  {
    id: 'PAGES.CHARGE_AFTER_FILL',
    kind: 'accounting',
    statement:
      'Filling domains pins a batch, maps it into every domain, and charges RLIMIT_MEMLOCK only after all batches are mapped: a domain that refuses the map fails the command with its own errno (EINVAL for a prot without READ or WRITE), not ENOMEM, and nothing stays pinned or charged.',
    source: { file: PAGES, function: 'iopt_area_fill_domains' },
    profiles: BOTH,
    checks: ['ref.pages.charge-after-fill'],
  },
  {
    id: 'PAGES.PIN_FOR_WRITE',
    kind: 'security',
    statement:
      'The pages of a writable mapping are pinned for writing (FOLL_WRITE): user memory the process cannot write fails the pin with EFAULT, whenever the pin happens (at MAP, at a domain fill, for an access), and nothing of the failed pin stays pinned; a device never writes memory the process itself may not.',
    source: { file: PAGES, function: 'pfn_reader_user_pin' },
    profiles: BOTH,
    checks: ['ref.pages.pin-for-write-efault'],
  },
  {
    id: 'PAGES.PINNED_OUTLIVE_MUNMAP',
    kind: 'security',
    statement:
      'munmap of user memory an IOAS pinned leaves those pages pinned and reachable by DMA, still the same pages holding the same bytes, until IOAS_UNMAP unpins them; an unpinned page is freed, and a later mmap gets zero-filled pages that belong to the new mapping alone.',
    source: { file: PAGES, function: 'batch_unpin' },
    profiles: BOTH,
    checks: ['ref.mem.unmap-frees-unpinned-frames-for-reuse', 'ref.mem.unmap-keeps-pinned-frames-reachable', 'suite.invariants.pinned-frame-outlives-munmap'],
  },
  {
    id: 'TEST_CMD.MD_CHECK_REFS',
    events: ['IOMMU_TEST_OP_MD_CHECK_REFS'],
    kind: 'errno',
    command: 'IOMMU_TEST_CMD',
    errno: 'EIO',
    statement: 'IOMMU_TEST_OP_MD_CHECK_REFS: uptr/length not page aligned → EINVAL; an unmapped page, or one the process may not read (PROT_NONE: the lookup is a read GUP, get_user_pages_fast(uptr, 1, 0, ..)) → EFAULT; a page whose pin count differs from refs → EIO.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test_md_check_refs' },
    profiles: BOTH,
    checks: ['ref.test.md-check-refs', 'suite.invariants.md-check-refs-alignment', 'suite.invariants.check-refs-past-top'],
  },
  {
    id: 'TEST_CMD.OP_LOOKUPS',
    events: ['IOMMU_TEST_OP_MD_CHECK_IOTLB', 'IOMMU_TEST_OP_MD_CHECK_MAP', 'IOMMU_TEST_OP_ACCESS_PAGES', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE'],
    kind: 'errno',
    command: 'IOMMU_TEST_CMD',
    errno: 'ENOENT',
    statement: 'What the selftest ops refuse by what their ids name: IOMMU_TEST_OP_MD_CHECK_IOTLB looks its id up as a nested HWPT, so an id naming nothing or an object of another type (an IOAS, a paging HWPT, a device) → ENOENT; IOMMU_TEST_OP_MD_CHECK_MAP over a mock paging HWPT with uptr + length past the top of the address space → EINVAL (check_add_overflow); IOMMU_TEST_OP_ACCESS_PAGES through an access created without MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES → EOPNOTSUPP, once its length and flags pass; IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE looks its id up as a selftest object (IOMMUFD_OBJ_SELFTEST), so an id naming nothing or an object of another type (the device\'s own out_idev_id, an IOAS, a HWPT) → ENOENT before the replace is tried.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test_md_check_iotlb, iommufd_test_md_check_pa, iommufd_test_access_pages, iommufd_test_get_selftest_obj' },
    profiles: BOTH,
    checks: ['suite.invariants.test-op-lookups', 'suite.invariants.mock-replace-lookup'],
  },
  {
    id: 'TEST_CMD.TEMP_MEMORY_LIMIT',
    events: ['IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT'],
    kind: 'errno',
    command: 'IOMMU_TEST_CMD',
    errno: 'EINVAL',
    statement: 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT sets the batch memory limit of the selftest (a global, 65536 by default): a limit below one batch entry, sizeof(unsigned long) + sizeof(u32) = 12 bytes, is EINVAL (it protects _batch_init); any other is taken.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test' },
    profiles: BOTH,
    checks: ['suite.invariants.temp-memory-limit'],
  },
];
