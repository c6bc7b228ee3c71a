/**
 * Access objects (the in-kernel/mdev path: drivers/iommu/iommufd/device.c
 * iommufd_access_*, and the selftest access of selftest.c), as the reference
 * implements them (impl/iommufd/access.ts, selftest.ts).
 */
import { BOTH, type Clause } from './types.ts';

const DEV = 'drivers/iommu/iommufd/device.c';
const ST = 'drivers/iommu/iommufd/selftest.c';
const T = 'IOMMU_TEST_CMD';

export const clauses: Clause[] = [
  {
    id: 'TEST_CMD.UNKNOWN_OP',
    events: ['IOMMU_TEST_CMD'],
    kind: 'errno',
    command: T,
    errno: 'EOPNOTSUPP',
    statement: 'IOMMU_TEST_CMD with an unknown op fails with EOPNOTSUPP.',
    source: { file: ST, function: 'iommufd_test' },
    profiles: BOTH,
    checks: ['ref.test.unknown-op-eopnotsupp'],
  },
  {
    id: 'TEST_CMD.ADD_RESERVED',
    events: ['IOMMU_TEST_OP_ADD_RESERVED'],
    kind: 'errno',
    command: T,
    errno: 'EINVAL',
    statement: 'IOMMU_TEST_OP_ADD_RESERVED: length 0 → EINVAL, wrap → EOVERFLOW, not an IOAS → ENOENT, intersecting an area or allowed range → EADDRINUSE; else the range becomes reserved.',
    source: { file: ST, function: 'iommufd_test_add_reserved' },
    profiles: BOTH,
    checks: ['ref.test.add-reserved', 'suite.invariants.add-reserved-length-first'],
  },
  {
    id: 'TEST_CMD.SET_TEMP_MEMORY_LIMIT',
    events: ['IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT'],
    kind: 'errno',
    command: T,
    errno: 'EINVAL',
    statement: 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT below 12 bytes fails with EINVAL.',
    source: { file: ST, function: 'iommufd_test' },
    profiles: BOTH,
    checks: ['ref.test.temp-memory-limit'],
  },
  {
    id: 'ACCESS.CREATE',
    decides: ['EBUSY',  'ENOENT'],
    events: ['IOMMU_TEST_OP_CREATE_ACCESS',  'IOMMU_DESTROY'],
    kind: 'lifecycle',
    statement:
      'An access is an object held by its driver (DESTROY of it is EBUSY) that holds the iommufd file and, while attached, its IOAS; CREATE_ACCESS with unknown flags → EOPNOTSUPP, a bad IOAS → ENOENT, leaving nothing behind.',
    source: { file: DEV, function: 'iommufd_access_create' },
    profiles: BOTH,
    checks: ['ref.access.create-errno', 'ref.destroy.ebusy-when-referenced', 'ref.release.leaves-first', 'suite.invariants.closed-access-releases-its-ioas'],
  },
  {
    id: 'ACCESS.ALIGNMENT',
    events: ['IOMMU_TEST_OP_CREATE_ACCESS',  'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'],
    kind: 'errno',
    errno: 'EADDRINUSE',
    statement: 'An access that pins pages raises its IOAS’s alignment to PAGE_SIZE; attaching it to an IOAS with a misaligned area fails with EADDRINUSE. Moving it away (ACCESS_REPLACE_IOAS) removes it, and only it, from the old IOAS, whose alignment is recomputed from what stays (iopt_remove_access with the slot read before iopt_add_access).',
    source: { file: 'drivers/iommu/iommufd/io_pagetable.c', function: 'iopt_add_access' },
    profiles: BOTH,
    checks: ['ref.access.alignment-eaddrinuse', 'ref.access.replace-ioas'],
  },
  {
    id: 'ACCESS.PIN_PAGES',
    events: ['IOMMU_TEST_OP_ACCESS_PAGES'],
    kind: 'errno',
    errno: 'EINVAL',
    statement:
      'iommufd_access_pin_pages: length 0 or a range not page aligned in its pages, or an area being unmapped → EINVAL; not attached or not fully mapped → ENOENT; a write pin of a read-only area → EPERM; on failure nothing stays pinned.',
    source: { file: DEV, function: 'iommufd_access_pin_pages' },
    profiles: BOTH,
    checks: ['ref.access.pin-and-rw', 'ref.access.prot-eperm', 'ref.access.unmap-edeadlock', 'ref.fail_nth.access-pin', 'suite.invariants.access-zero-length', 'suite.invariants.pin-starts-on-a-page'],
  },
  {
    id: 'ACCESS.PAGES_ARE_MAPPED',
    kind: 'state',
    statement:
      'iommufd_access_pin_pages hands the access, in order, the pages mapped at each IOVA of the range, across as many areas as it spans; the selftest compares them with the pages behind uptr (iommufd_test_check_pages: EBADE when one differs), so where the IOAS maps the range writable to exactly the memory from uptr on, the pin succeeds.',
    source: { file: DEV, function: 'iommufd_access_pin_pages' },
    profiles: BOTH,
    checks: ['suite.invariants.access-pages-are-mapped'],
  },
  {
    id: 'ACCESS.OPS_SUCCEED',
    events: ['IOMMU_TEST_OP_ACCESS_PAGES', 'IOMMU_TEST_OP_ACCESS_RW'],
    kind: 'state',
    statement:
      'An ACCESS_RW or ACCESS_PAGES with known flags and a length of 1 byte to 16 MiB, over a range the access’s IOAS maps end to end with the permission it needs, fails only for memory (ENOMEM), the user buffer or the pages (EFAULT), the selftest’s comparison with the pages behind uptr (EBADE), an access without pin ops (ACCESS_PAGES: EOPNOTSUPP), an area an unmap is taking away (prevent_access), or, for a pin, a piece that does not start, or one before the last that does not end, on a page boundary of its pages (iopt_area_contig_is_aligned: EINVAL). A refused unmap leaves its areas open to accesses.',
    source: { file: DEV, function: 'iommufd_access_pin_pages' },
    profiles: BOTH,
    checks: ['suite.invariants.access-ops-succeed'],
  },
  {
    id: 'ACCESS.RW',
    kind: 'state',
    statement: 'iommufd_access_rw copies bytes through the IOAS to or from the mapped memory (EINVAL for length 0, ENOENT where nothing is mapped, EPERM against the area’s protection). The selftest’s syzkaller form (MOCK_FLAGS_ACCESS_SYZ) names the IOVA as { u32 nth_area; u32 offset } in access_rw.iova, decoded in the access’s IOAS (iommufd_test_syz_conv_iova: the nth area in IOVA order plus the offset, 0 where there is none), and reaches exactly what the IOAS maps there.',
    source: { file: DEV, function: 'iommufd_access_rw' },
    profiles: BOTH,
    checks: ['ref.access.pin-and-rw', 'ref.fail_nth.access-rw', 'ref.access.rw-fast-and-slow-path', 'suite.invariants.access-needs-the-permission', 'suite.invariants.access-rw-syz-form', 'suite.invariants.access-zero-length'],
  },
  {
    id: 'ACCESS.RW_FAILED_READ',
    kind: 'state',
    statement: 'The selftest\u2019s ACCESS_RW reads into a bounce buffer and copies it to uptr only once the access succeeded: a failed read leaves the caller\u2019s buffer as it was, except after an EFAULT, which that copy itself may answer part of the way.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test_access_rw' },
    profiles: BOTH,
    checks: ['suite.invariants.failed-access-read-copies-nothing'],
  },
  {
    id: 'ACCESS.RW_PATHS',
    kind: 'state',
    statement:
      'From the mapping process access rw copies through the user address (EFAULT once the memory is unmapped or made read-only for a write, even if pinned); from another mm (selftest SLOW_PATH) a multi-page copy reads the frames a domain or an access already pins and pins the rest (FOLL_WRITE for writable pages) only while it copies, charging nothing (iopt_pages_rw_slow never calls update_pinned: RLIMIT_MEMLOCK refuses none of it), a single page is pinned again from the mm (FOLL_WRITE for a write): a write never lands in memory the process can no longer write, except through frames pinned for writing before. The pages copied are the ones from start_byte to start_byte + length - 1, page by page: never the physical frame after a pinned one, which belongs to whatever the page allocator gave it to.',
    source: { file: 'drivers/iommu/iommufd/pages.c', function: 'iopt_pages_rw_access' },
    profiles: BOTH,
    checks: ['ref.access.rw-fast-and-slow-path', 'ref.access.rw-slow-uncharged', 'suite.invariants.access-writes-only-writable-memory', 'ref.process.small-pages-out-of-order', 'mutants.unseen.killed-by-invariants'],
  },
  {
    id: 'ACCESS.ITEMS',
    decides: ['EBADFD',  'ENOENT'],
    events: ['IOMMU_TEST_OP_ACCESS_PAGES',  'IOMMU_TEST_OP_ACCESS_RW',  'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES',  'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'],
    kind: 'errno',
    command: T,
    errno: 'EBADFD',
    statement:
      'Selftest access ops take the access fd, through any iommufd: a bad fd or another kind of file fails with EBADFD; ACCESS_PAGES over 16 MiB → ENOMEM, unknown flags → EOPNOTSUPP; DESTROY_ACCESS_PAGES of an item the access does not hold (never answered: a failed ACCESS_PAGES takes its item back off the list; destroyed; released by an unmap) → ENOENT. ACCESS_REPLACE_IOAS looks the new IOAS up in the access’s own context (iommufd_access_change_ioas_id: access->ictx) and moves an attached access to any live IOAS there whose areas are aligned for it (ACCESS.ALIGNMENT: EADDRINUSE otherwise).',
    source: { file: ST, function: 'iommufd_test_access_pages' },
    profiles: BOTH,
    checks: ['ref.access.pin-and-rw', 'suite.invariants.access-item-destroyed-once', 'suite.invariants.access-replace-succeeds'],
  },
  {
    id: 'ACCESS.UNMAP_NOTIFY',
    kind: 'security',
    command: 'IOMMU_IOAS_UNMAP',
    statement:
      'Unmapping an area an access has pinned marks it prevent_access, tells every access of the IOAS to unpin the range, and completes once they did; the pages are unpinned before the unmap returns.',
    source: { file: 'drivers/iommu/iommufd/io_pagetable.c', function: 'iopt_unmap_iova_range' },
    profiles: BOTH,
    checks: ['ref.access.unmap-notifies', 'ref.access.unmap-edeadlock', 'mutants.catalogue.all-killed-full'],
  },
  {
    id: 'ACCESS.REPLACE_IOAS',
    kind: 'state',
    command: T,
    statement: 'Replacing an access’s IOAS (ENOENT for a bad id) joins the new IOAS, unpins everything in the old one and drops its reference; a replace the new IOAS refuses (EADDRINUSE: an area not aligned to the access) leaves the access on its old IOAS.',
    source: { file: DEV, function: 'iommufd_access_change_ioas' },
    profiles: BOTH,
    checks: ['ref.access.replace-ioas', 'suite.invariants.access-keeps-its-ioas'],
  },
];
