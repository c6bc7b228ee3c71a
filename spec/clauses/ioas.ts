/**
 * IOAS ioctls and the io_pagetable rules (drivers/iommu/iommufd/ioas.c,
 * io_pagetable.c), in each command's kernel check order.
 */
import { BOTH, type Clause, type ClauseKind } from './types.ts';

const IOAS = 'drivers/iommu/iommufd/ioas.c';
const IOPT = 'drivers/iommu/iommufd/io_pagetable.c';
const PAGES = 'drivers/iommu/iommufd/pages.c';

function e(id: string, command: string, errno: string, fn: string, file: string, statement: string, checks: string[]): Clause {
  return { id, kind: 'errno', command, errno, statement, source: { file, function: fn }, profiles: BOTH, checks };
}
function r(id: string, kind: ClauseKind, command: string | undefined, fn: string, file: string, statement: string, checks: string[]): Clause {
  return { id, kind, ...(command && { command }), statement, source: { file, function: fn }, profiles: BOTH, checks };
}

const ALLOC = 'IOMMU_IOAS_ALLOC';
const RANGES = 'IOMMU_IOAS_IOVA_RANGES';
const ALLOW = 'IOMMU_IOAS_ALLOW_IOVAS';
const MAP = 'IOMMU_IOAS_MAP';
const COPY = 'IOMMU_IOAS_COPY';
const UNMAP = 'IOMMU_IOAS_UNMAP';
const OPTION = 'IOMMU_OPTION';

export const clauses: Clause[] = [
  // IOMMU_IOAS_ALLOC
  {
    ...r(
      'IOAS.DESTROY_UNMAPS',
      'lifecycle',
      undefined,
      'iommufd_ioas_destroy',
      IOAS,
      'Destroying an IOAS nothing references unmaps every area it still has and frees its table; it cannot fail: the kernel only WARNs if iopt_unmap_all does (WARN_ON(rc && rc != -ENOENT)).',
      ['ref.ioas.destroy-warns-never-throws', 'ref.destroy.ebusy-when-referenced'],
    ),
    decides: [],
    events: ['IOMMU_DESTROY'],
  },
  e('IOAS_ALLOC.FLAGS', ALLOC, 'EOPNOTSUPP', 'iommufd_ioas_alloc_ioctl', IOAS, 'IOMMU_IOAS_ALLOC with non-zero flags fails with EOPNOTSUPP and creates nothing.', ['ref.ioas_alloc.errno-order']),
  r('IOAS_ALLOC.FRESH', 'state', ALLOC, 'iopt_init_table', IOPT, 'A new IOAS has no areas, no reserved or allowed ranges, IOVA alignment 1 and large pages enabled: IOVA_RANGES reports [0, U64_MAX].', ['ref.ioas_iova_ranges.fresh', 'ref.option.errno-order']),

  // IOMMU_IOAS_IOVA_RANGES
  e('IOAS_IOVA_RANGES.RESERVED', RANGES, 'EOPNOTSUPP', 'iommufd_ioas_iova_ranges', IOAS, 'A non-zero __reserved fails with EOPNOTSUPP before the IOAS lookup.', ['ref.ioas_iova_ranges.errno-order']),
  { ...e('IOAS_IOVA_RANGES.IOAS', RANGES, 'ENOENT', 'iommufd_ioas_iova_ranges', IOAS, 'An ioas_id that is not an IOAS fails with ENOENT.', ['ref.ioas_iova_ranges.errno-order']), decides: ['ENOENT'] },
  e('IOAS_IOVA_RANGES.EFAULT', RANGES, 'EFAULT', 'iommufd_ioas_iova_ranges', IOAS, 'A range array that cannot be written fails with EFAULT.', ['ref.ioas_iova_ranges.errno-order']),
  e('IOAS_IOVA_RANGES.EMSGSIZE', RANGES, 'EMSGSIZE', 'iommufd_ioas_iova_ranges', IOAS, 'When there are more ranges than num_iovas, the first num_iovas are written (and nothing past them: num_iovas 0 writes nothing), num_iovas is set to the total and copied back, and the ioctl fails with EMSGSIZE.', ['ref.ioas_iova_ranges.emsgsize', 'suite.invariants.iova-ranges-count-is-the-total', 'suite.invariants.iova-ranges-writes-what-fits']),
  r('IOAS_IOVA_RANGES.HOLES', 'state', RANGES, 'iommufd_ioas_iova_ranges', IOAS, 'The ranges are the holes of the reserved set over [0, ULONG_MAX] (allowed ranges are not reflected), with out_iova_alignment the IOAS alignment. The reserved set is exactly the IOAS\'s own reservations, the regions of the devices attached through it and the IOVA outside each of its domains\' apertures: a failed attach or domain allocation leaves it as it was, but for one quirk of both kernels: a replace refused onto another HWPT of the IOAS the group is on drops the group\'s regions from it (iommufd_device_do_replace\'s err_unresv), so until the group leaves that IOAS its regions may be reserved or not; a replace there that succeeds keeps them (and an attach by the IOAS\'s id drops them only when the automatic search was refused by a HWPT before the one it took).', ['ref.ioas_iova_ranges.emsgsize', 'ref.iopt.aperture-reserved', 'ref.test.add-reserved', 'suite.invariants.iova-ranges-are-the-holes', 'suite.invariants.iova-ranges-holes-after-a-replace-in-the-ioas', 'suite.invariants.replace-in-the-ioas-keeps-regions', 'suite.invariants.end-of-case-iova-ranges']),
  r('IOAS_IOVA_RANGES.ALIGNMENT', 'state', RANGES, 'iopt_calculate_iova_alignment', IOPT, 'out_iova_alignment is the IOAS alignment: the largest of 1 (PAGE_SIZE with large pages disabled), each of its domains\' smallest IO page (1 << __ffs(pgsize_bitmap)) and each access\'s alignment (PAGE_SIZE for one that pins pages), recomputed whenever a domain or an access joins or leaves; a failed attach, HWPT allocation or access leaves it as it was.', ['suite.invariants.iova-alignment', 'mutants.unseen.killed-by-invariants']),

  // IOMMU_IOAS_ALLOW_IOVAS
  e('IOAS_ALLOW_IOVAS.RESERVED', ALLOW, 'EOPNOTSUPP', 'iommufd_ioas_allow_iovas', IOAS, 'A non-zero __reserved fails with EOPNOTSUPP.', ['ref.ioas_allow_iovas.errno-order']),
  { ...e('IOAS_ALLOW_IOVAS.IOAS', ALLOW, 'ENOENT', 'iommufd_ioas_allow_iovas', IOAS, 'An ioas_id that is not an IOAS fails with ENOENT before the ranges are read.', ['ref.ioas_allow_iovas.errno-order']), decides: ['ENOENT'] },
  e('IOAS_ALLOW_IOVAS.EFAULT', ALLOW, 'EFAULT', 'iommufd_ioas_load_iovas', IOAS, 'An unreadable range array fails with EFAULT.', ['ref.ioas_allow_iovas.errno-order']),
  e('IOAS_ALLOW_IOVAS.START_GE_LAST', ALLOW, 'EINVAL', 'iommufd_ioas_load_iovas', IOAS, 'A range with start >= last (even a single byte) fails with EINVAL.', ['ref.ioas_allow_iovas.errno-order', 'suite.invariants.allow-iovas-single-byte-refused']),
  e('IOAS_ALLOW_IOVAS.OVERLAP', ALLOW, 'EINVAL', 'iommufd_ioas_load_iovas', IOAS, 'Input ranges that overlap each other fail with EINVAL.', ['ref.ioas_allow_iovas.errno-order', 'suite.invariants.allow-iovas-overlap-refused']),
  r('IOAS_ALLOW_IOVAS.WELL_FORMED', 'state', ALLOW, 'iommufd_ioas_load_iovas', IOAS, 'A list read whole (__reserved 0, every range readable) whose ranges each have start < last and meet no other, for a live IOAS, is taken: it is refused only where a range meets a reserved IOVA (EADDRINUSE), for memory (ENOMEM) or for the copy (EFAULT). Each range is read at its own place in the array; EINVAL for such a list is a range misread.', ['suite.invariants.allow-iovas-well-formed-taken']),
  e('IOAS_ALLOW_IOVAS.RESERVED_HIT', ALLOW, 'EADDRINUSE', 'iopt_set_allow_iova', IOPT, 'An allowed range intersecting a reserved range fails with EADDRINUSE and the old allowed list stays.', ['ref.ioas_allow_iovas.errno-order', 'ref.iopt.aperture-reserved', 'suite.invariants.allow-iovas-refusal-keeps-the-ranges']),
  r('IOAS_ALLOW_IOVAS.REPLACE', 'state', ALLOW, 'iopt_set_allow_iova', IOPT, 'The allowed list is replaced atomically; num_iovas = 0 clears it. Automatic IOVAs are then placed only inside allowed ranges; fixed maps are not restricted.', ['ref.ioas_allow_iovas.errno-order', 'ref.ioas_map.auto-iova-placement']),

  // IOMMU_IOAS_MAP
  e('IOAS_MAP.FLAGS', MAP, 'EOPNOTSUPP', 'iommufd_ioas_map', IOAS, 'Unknown flags or a non-zero __reserved fail with EOPNOTSUPP first.', ['ref.ioas_map.errno-order']),
  e('IOAS_MAP.U64_MAX', MAP, 'EOVERFLOW', 'iommufd_ioas_map', IOAS, 'iova or length equal to U64_MAX fails with EOVERFLOW, an automatic map\u2019s iova field too.', ['ref.ioas_map.errno-order', 'suite.invariants.map-u64-max-refused']),
  e('IOAS_MAP.NO_PROT', MAP, 'EINVAL', 'iommufd_ioas_map', IOAS, 'Neither READABLE nor WRITEABLE fails with EINVAL.', ['ref.ioas_map.errno-order']),
  { ...e('IOAS_MAP.IOAS', MAP, 'ENOENT', 'iommufd_ioas_map', IOAS, 'An ioas_id that is not an IOAS fails with ENOENT.', ['ref.ioas_map.errno-order']), decides: ['ENOENT'] },
  { ...e('IOAS_MAP.UPTR_WRAP_FIRST', MAP, 'EOVERFLOW', 'iopt_alloc_user_pages', PAGES, 'In 7.3, user_va + length wrapping fails with EOVERFLOW before the length is checked.', ['ref.ioas_map.length-vs-wrap-order', 'suite.invariants.map-length-checks']), profiles: ['7.3'] },
  e('IOAS_MAP.LENGTH', MAP, 'EINVAL', 'iopt_alloc_pages', PAGES, 'length 0 or above SIZE_MAX - PAGE_SIZE fails with EINVAL.', ['ref.ioas_map.errno-order', 'ref.ioas_map.length-vs-wrap-order', 'suite.invariants.map-length-checks']),
  { ...e('IOAS_MAP.UPTR_WRAP', MAP, 'EOVERFLOW', 'iopt_alloc_pages', PAGES, 'In 6.12, user_va + length wrapping fails with EOVERFLOW after the length check.', ['ref.ioas_map.errno-order', 'ref.ioas_map.length-vs-wrap-order', 'suite.invariants.map-length-checks']), profiles: ['6.12'] },
  e('IOAS_MAP.LENGTH_ALIGN', MAP, 'EINVAL', 'iopt_alloc_area_pages', IOPT, 'A length that is not a multiple of the IOAS alignment fails with EINVAL (1 while no domain or access raised it).', ['ref.ioas_map.alignment-einval', 'suite.invariants.map-length-checks']),
  e('IOAS_MAP.AUTO_TOO_LONG', MAP, 'EOVERFLOW', 'iopt_alloc_iova', IOPT, 'For an automatic IOVA, length >= ULONG_MAX / 2 fails with EOVERFLOW (after the length alignment test).', ['ref.ioas_map.errno-order', 'suite.invariants.map-length-checks']),
  e('IOAS_MAP.AUTO_ALIGN', MAP, 'EINVAL', 'iopt_alloc_iova', IOPT, 'For an automatic IOVA, an alignment derived from user_va and length below the IOAS alignment fails with EINVAL.', ['ref.ioas_map.auto-iova-alignment-einval']),
  e('IOAS_MAP.NO_SPACE', MAP, 'ENOSPC', 'iopt_alloc_iova', IOPT, 'No hole of reserved ∪ areas (inside the allowed ranges, if any) fits: ENOSPC.', ['ref.ioas_map.auto-iova-placement']),
  r('IOAS.AREAS_ALIGNED', 'security', MAP, 'iopt_check_iova_alignment', IOPT, 'Every area’s IOVA, length and offset in its first page stay aligned to the IOAS’s alignment: a command that raises it (a domain joining, a pinning access, large IOPTEs turned off) checks every area first and fails with EADDRINUSE over one that is off, so a domain never holds an area it would map from the wrong byte; and a new area (IOAS_MAP, MAP_FILE, COPY, VFIO_IOMMU_MAP_DMA) is checked against the alignment as it stands (iopt_alloc_area_pages, iopt_insert_area’s page_offset test: EINVAL), as is a type1 v1 unmap’s cut (iopt_area_split: EINVAL).', ['ref.access.alignment-eaddrinuse', 'suite.invariants.areas-aligned', 'suite.invariants.new-area-aligned', 'suite.invariants.v1-cut-aligned']),
  r('IOAS_MAP.AUTO_FITS', 'state', MAP, 'iopt_alloc_iova', IOPT, 'An automatic map for which the first-fit search finds a hole (an aligned start, with user_va’s page offset, from which the length fits before the hole ends), with length and user_va aligned to the IOAS alignment and the search’s alignment not below it, fails only for its pages (EFAULT, ENOMEM) or for a table’s reach inside its aperture (ERANGE): ENOSPC, or any other refusal, is a hole the search missed; and EFAULT only where the user range is not all in one buffer the process maps, no page of it taken away, read-only or inaccessible (pin_user_pages cannot fault there).', ['suite.invariants.auto-map-fits', 'suite.invariants.map-efault-needs-unreachable-pages']),
  e('IOAS_MAP.FIXED_ALIGN', MAP, 'EINVAL', 'iopt_check_iova', IOPT, 'A fixed iova not aligned to the IOAS alignment fails with EINVAL.', ['ref.ioas_map.alignment-einval']),
  e('IOAS_MAP.FIXED_WRAP', MAP, 'EOVERFLOW', 'iopt_check_iova', IOPT, 'A fixed iova + length - 1 wrapping fails with EOVERFLOW.', ['ref.ioas_map.errno-order']),
  e('IOAS_MAP.FIXED_RESERVED', MAP, 'EINVAL', 'iopt_check_iova', IOPT, 'A fixed range intersecting a reserved range fails with EINVAL.', ['ref.ioas_map.errno-order', 'ref.mock.map-outside-aperture', 'ref.test.add-reserved']),
  { ...e('IOAS_MAP.OVERLAP', MAP, 'EEXIST', 'iopt_check_iova', IOPT, 'A fixed range intersecting an existing area fails with EEXIST; that is the last test of iopt_check_iova, so an IOVA off the IOAS alignment, and a range that meets reserved IOVA, fail with EINVAL whatever is mapped there.', ['ref.ioas_map.errno-order', 'suite.invariants.eexist-after-reserved']), decides: ['EEXIST'], events: ['IOMMU_IOAS_MAP', 'IOMMU_IOAS_MAP_FILE', 'VFIO_IOMMU_MAP_DMA'] },
  e('IOAS_MAP.PAGE_OFFSET', MAP, 'EINVAL', 'iopt_insert_area', IOPT, 'A user_va whose offset in its page is not a multiple of the IOAS alignment fails with EINVAL.', ['ref.ioas_map.alignment-einval']),
  r('IOAS_MAP.FIXED_FREE', 'state', MAP, 'iopt_map_pages', IOPT, 'A fixed-IOVA map of a range that is free (no area), allowed and not reserved, with IOVA, length and user_va aligned to the IOAS alignment and length at most SIZE_MAX - PAGE_SIZE, fails only for its pages (EFAULT from pinning, ENOMEM from the charge or an allocation) or for the reach of a domain’s table inside its aperture (ERANGE: 6.12 AMD v1 past its sixth level), and a read-only one with EINVAL where a VT-d nesting parent holds the IOAS (ERRATA_772415_SPR17: 7.3 PT_FEAT_VTDSS_FORCE_WRITEABLE, 6.12 __domain_mapping’s nested_parent test): the domains take every other such range (their apertures are reserved around, their smallest page divides the alignment). EFAULT comes only from pages the process cannot give: where the user range lies in one buffer it maps, no page taken away, read-only or inaccessible, a driver that answers EFAULT (6.12 intel_iommu_map past the domain’s width) refuses a range its aperture offers.', ['suite.invariants.fixed-map-succeeds', 'suite.invariants.map-efault-needs-unreachable-pages', 'ref.hwpt_alloc.vtd-nest-parent-refuses-read-only', 'suite.invariants.nest-parent-takes-no-read-only-area']),
  e('IOAS_MAP.EFAULT', MAP, 'EFAULT', 'pfn_reader_user_pin', PAGES, 'With a domain, an unmapped user address, or a writable map of read-only memory, fails with EFAULT and leaves nothing mapped or pinned.', ['ref.ioas_map.efault-bad-uva-with-domain']),
  e('IOAS_MAP.RLIMIT', MAP, 'ENOMEM', 'do_update_pinned', PAGES, 'Pinning beyond RLIMIT_MEMLOCK (without CAP_IPC_LOCK) fails with ENOMEM and unpins what was just pinned.', ['ref.pages.rlimit-user-enomem', 'ref.pages.rlimit-mm-mode', 'ref.mock.rlimit']),
  r('IOAS_MAP.AUTO_PLACEMENT', 'state', MAP, 'iopt_alloc_iova', IOPT, 'An automatic IOVA is the first fit in address order from PAGE_SIZE, aligned to min(roundup_pow_of_two(length), lowest set bit of user_va) capped at 2 MiB, keeping user_va’s offset in its page. A hole fits only if the range still fits once its start is aligned (__alloc_iova_check_range measures from aligned_start): the new area never reaches into an area, a reserved range or past an allowed range.', ['ref.ioas_map.auto-iova-placement', 'ref.adapter.open-and-map', 'suite.invariants.areas-never-overlap', 'suite.invariants.auto-iova-page-offset']),
  r('IOAS_MAP.LAZY_PIN', 'accounting', MAP, 'iopt_map_user_pages', IOPT, 'Without a domain or an access nothing is pinned at MAP time and user_va is not validated.', ['ref.ioas_map.no-domain-no-pin', 'ref.mock.domain-added-after-map']),

  // IOMMU_IOAS_COPY
  r('IOAS_COPY.TEST_SYZ_IOVA', 'state', COPY, 'iommufd_test_syz_conv_iova_id', 'drivers/iommu/iommufd/selftest.c', 'With CONFIG_IOMMUFD_TEST, COPY first strips MOCK_FLAGS_ACCESS_SYZ (1 << 16) from flags and, if src_ioas_id is an IOAS, decodes src_iova as { u32 nth_area; u32 offset } into that area’s start + offset, in the source IOAS (never the destination); both are copied back.', ['ref.ioas_copy.syz-iova', 'machines.ioas.copy-syz-source', 'suite.invariants.copy-auto-fits', 'suite.invariants.syz-iova-counts-copied-pieces']),
  r('IOAS_COPY.AUTO_FITS', 'state', COPY, 'iopt_alloc_area_pages', IOPT, 'A copy to an automatic IOVA of a range one area of the source covers (WRITEABLE only over pages pinned for writing), with length and the source’s user address aligned to the destination’s alignment and the search’s alignment not below it, for which the first-fit search finds a hole in the destination, fails only for its pages (EFAULT, ENOMEM) or a table’s reach (ERANGE), and a read-only one with EINVAL where a VT-d nesting parent holds the destination: any other refusal turns down a valid copy.', ['suite.invariants.copy-auto-fits']),
  e('IOAS_COPY.FLAGS', COPY, 'EOPNOTSUPP', 'iommufd_ioas_copy', IOAS, 'Unknown flags fail with EOPNOTSUPP.', ['ref.ioas_copy.errno-order']),
  e('IOAS_COPY.U64_MAX', COPY, 'EOVERFLOW', 'iommufd_ioas_copy', IOAS, 'length, src_iova or dst_iova equal to U64_MAX fails with EOVERFLOW.', ['ref.ioas_copy.errno-order']),
  e('IOAS_COPY.NO_PROT', COPY, 'EINVAL', 'iommufd_ioas_copy', IOAS, 'Neither READABLE nor WRITEABLE fails with EINVAL.', ['ref.ioas_copy.errno-order']),
  { ...e('IOAS_COPY.SRC', COPY, 'ENOENT', 'iommufd_ioas_copy', IOAS, 'A src_ioas_id that is not an IOAS fails with ENOENT (before dst is looked up).', ['ref.ioas_copy.errno-order']), decides: ['ENOENT'] },
  e('IOAS_COPY.LENGTH', COPY, 'EINVAL', 'iopt_get_pages', IOPT, 'length 0 fails with EINVAL, iopt_get_pages\u2019 first test, before the source range\u2019s last IOVA is computed.', ['ref.ioas_copy.errno-order', 'suite.invariants.copy-zero-length']),
  e('IOAS_COPY.WRAP', COPY, 'EOVERFLOW', 'iopt_get_pages', IOPT, 'src_iova + length - 1 wrapping fails with EOVERFLOW.', ['ref.ioas_copy.errno-order']),
  { ...e('IOAS_COPY.NOT_COVERED', COPY, 'ENOENT', 'iopt_get_pages', IOPT, 'A source range not fully covered by contiguous populated areas fails with ENOENT; a sub-range of an area is accepted.', ['ref.ioas_copy.errno-order', 'ref.ioas_copy.contiguous-areas', 'suite.invariants.copy-hole-enoent']), decides: ['ENOENT'] },
  e('IOAS_COPY.WRITABLE_PAGES', COPY, 'EPERM', 'iopt_insert_area', IOPT, 'A WRITEABLE copy of pages pinned read-only (an area mapped without WRITEABLE) fails with EPERM: a device could otherwise write memory the process may only read.', ['suite.invariants.writable-copy-needs-writable-pages']),
  { ...e('IOAS_COPY.DST', COPY, 'ENOENT', 'iommufd_ioas_copy', IOAS, 'A dst_ioas_id that is not an IOAS fails with ENOENT after the source checks.', ['ref.ioas_copy.errno-order']), decides: ['ENOENT'] },
  { ...e('IOAS_COPY.DST_CHECKS', COPY, 'EEXIST', 'iopt_map_pages', IOPT, 'The destination is checked like IOAS_MAP (alignment, placement, reserved, overlap: EEXIST for an occupied fixed IOVA).', ['ref.ioas_copy.errno-order']), decides: ['EEXIST'] },
  e('IOAS_COPY.READ_ONLY_SOURCE', COPY, 'EPERM', 'iopt_insert_area', IOPT, 'A WRITEABLE copy of pages mapped read-only fails with EPERM.', ['ref.ioas_copy.errno-order']),
  r('IOAS_COPY.SHARES_PAGES', 'accounting', COPY, 'iopt_map_pages', IOPT, 'Copied areas share the source iopt_pages: pages are pinned and charged once however many IOASes and domains map them; separate MAPs of the same memory pin separately.', ['ref.ioas_copy.pins-once']),

  // IOMMU_IOAS_UNMAP
  { ...e('IOAS_UNMAP.IOAS', UNMAP, 'ENOENT', 'iommufd_ioas_unmap', IOAS, 'An ioas_id that is not an IOAS fails with ENOENT first.', ['ref.ioas_unmap.errno-order']), decides: ['ENOENT'] },
  r('IOAS_UNMAP.ALL', 'state', UNMAP, 'iopt_unmap_all', IOPT, '(iova 0, length U64_MAX) unmaps every area and succeeds even when there is none; length returns the bytes unmapped.', ['ref.ioas_unmap.all-always-succeeds', 'suite.invariants.unmap-all-never-enoent']),
  e('IOAS_UNMAP.U64_MAX', UNMAP, 'EOVERFLOW', 'iommufd_ioas_unmap', IOAS, 'Otherwise iova or length equal to U64_MAX fails with EOVERFLOW.', ['ref.ioas_unmap.errno-order', 'suite.invariants.unmap-u64-max']),
  e('IOAS_UNMAP.LENGTH', UNMAP, 'EINVAL', 'iopt_unmap_iova', IOPT, 'length 0 fails with EINVAL.', ['ref.ioas_unmap.errno-order', 'suite.invariants.zero-length-unmap-refused']),
  e('IOAS_UNMAP.WRAP', UNMAP, 'EOVERFLOW', 'iopt_unmap_iova', IOPT, 'iova + length - 1 wrapping fails with EOVERFLOW.', ['ref.ioas_unmap.errno-order']),
  {
    id: 'IOAS_UNMAP.LOCKED',
    kind: 'errno',
    command: UNMAP,
    errno: 'EBUSY',
    statement:
      'An area locked by an object that still exists (area->num_locks: an internal access, e.g. a HW_QUEUE’s pages) fails an unmap that reaches it with EBUSY — even one that only cuts it: iopt_unmap_iova_range checks num_locks before the range (7.3; 6.12 has no locks).',
    source: { file: IOPT, function: 'iopt_unmap_iova_range' },
    profiles: ['7.3'],
    checks: ['ref.ioas_unmap.locked-area-ebusy-before-range'],
  },
  { ...e('IOAS_UNMAP.NO_SPLIT', UNMAP, 'ENOENT', 'iopt_unmap_iova_range', IOPT, 'An area only partly inside the range fails with ENOENT (areas are never split); areas before it in the range are already unmapped.', ['ref.ioas_unmap.no-split', 'ref.ioas_unmap.partial-progress', 'ref.vfio_compat.type1v2-no-split', 'suite.invariants.unmap-of-whole-areas-not-enoent', 'suite.invariants.enoent-unmap-removed-the-areas-below-the-cut']), decides: ['ENOENT'] },
  e('IOAS_UNMAP.DEADLOCK', UNMAP, 'EDEADLK', 'iopt_unmap_iova_range', IOPT, 'An area an access keeps pinned after more than 100 unmap notifications fails with EDEADLOCK.', ['ref.access.unmap-edeadlock']),
  { ...e('IOAS_UNMAP.NOTHING', UNMAP, 'ENOENT', 'iommufd_ioas_unmap', IOAS, 'Unmapping a range that contains no area fails with ENOENT.', ['ref.ioas_unmap.errno-order']), decides: ['ENOENT'] },
  r('IOAS_UNMAP.NOTHING_REACHABLE', 'security', UNMAP, 'iopt_unmap_iova_range', IOPT, 'Once UNMAP returns, no device attached to the IOAS reaches the range (its DMA faults) and the pages are unpinned; before it, DMA lands in exactly the mapped user pages.', ['ref.adapter.dma-lands-in-user-pages-6.12', 'ref.adapter.dma-lands-in-user-pages-7.3']),
  r('IOAS_UNMAP.SUPERSET', 'state', UNMAP, 'iopt_unmap_iova_range', IOPT, 'Every area fully inside the range is unmapped and length returns their total size: an unmap of exactly an area\u2019s range, where the MAP or COPY that made it answered it is, unmaps all of it.', ['ref.ioas_unmap.no-split', 'ref.mock.map-pins-once-two-domains', 'ref.iopt.random-sequences-keep-invariants', 'suite.invariants.end-of-case-unmaps-each-area']),

  // IOMMU_OPTION HUGE_PAGES
  { ...e('OPTION.HUGE_PAGES.IOAS', OPTION, 'ENOENT', 'iommufd_ioas_option', IOAS, 'IOMMU_OPTION_HUGE_PAGES looks the IOAS up first: object_id 0 or not an IOAS fails with ENOENT even for a bad op.', ['ref.option.errno-order']), decides: ['ENOENT'] },
  e('OPTION.HUGE_PAGES.OP', OPTION, 'EOPNOTSUPP', 'iommufd_ioas_option_huge_pages', IOAS, 'An op other than SET/GET fails with EOPNOTSUPP.', ['ref.option.errno-order']),
  e('OPTION.HUGE_PAGES.VAL', OPTION, 'EINVAL', 'iommufd_ioas_option_huge_pages', IOAS, 'SET with a value other than 0 or 1 fails with EINVAL.', ['ref.option.errno-order']),
  r('OPTION.HUGE_PAGES.ENABLE', 'state', OPTION, 'iopt_enable_large_pages', IOPT, 'SET 1 (large pages back on) on a live IOAS cannot fail: it only lowers the alignment (iopt_enable_large_pages returns nothing), so it succeeds whatever the domains and areas; SET 0 on an IOAS with no area cannot fail either (iopt_disable_large_pages refuses only areas a domain maps, or areas off PAGE_SIZE); a GET of either option on a live object always succeeds.', ['ref.option.huge-pages-disable', 'suite.invariants.option-huge-pages-on-succeeds']),
  { ...e('OPTION.HUGE_PAGES.DOMAINS_AND_AREAS', OPTION, 'EINVAL', 'iopt_disable_large_pages', IOPT, 'Disabling large pages on an IOAS that has both domains and areas fails with EINVAL — while they are still on: disabling them again returns 0 at once.', ['ref.option.huge-pages-disable', 'machines.ioas.disable-large-pages-twice', 'suite.invariants.large-pages-stay-under-mapped-domains', 'suite.invariants.huge-pages-off-again-succeeds']), decides: ['EINVAL'], events: ['IOMMU_OPTION',  'VFIO_SET_IOMMU'] },
  e('OPTION.HUGE_PAGES.MISALIGNED', OPTION, 'EADDRINUSE', 'iopt_disable_large_pages', IOPT, 'Disabling large pages when an area is not PAGE_SIZE aligned fails with EADDRINUSE, and large pages stay on (the flag is put back): a GET after it answers 1.', ['ref.option.huge-pages-disable', 'suite.invariants.failed-option-set-changes-nothing', 'suite.invariants.end-of-case-options']),
  r('OPTION.HUGE_PAGES.ALIGNMENT', 'state', OPTION, 'iopt_calculate_iova_alignment', IOPT, 'With large pages disabled the IOAS alignment is at least PAGE_SIZE and domains are filled with PAGE_SIZE IOPTEs.', ['ref.option.errno-order', 'suite.invariants.iova-alignment']),

  r('IOAS.COPYBACK_EFAULT_KEEPS_EFFECT', 'state', undefined, 'iommufd_ucmd_respond', 'drivers/iommu/iommufd/main.c', 'MAP, UNMAP and OPTION SET that fail only in copying the result back return EFAULT but keep their effect (the documented non-atomic case); allocation ioctls abort the new object instead.', ['ref.ioas.copyback-efault-keeps-effect', 'ref.ioas_alloc.copyback-fault-aborts']),

  // io_pagetable and domains
  r('IOPT.DOMAIN_MIRRORS_AREAS', 'security', undefined, 'iopt_table_add_domain', IOPT, 'Every domain of an IOAS maps exactly the IOAS’s areas to the pinned frames behind their user addresses, whether it was added before or after the maps; removing the last domain unpins.', ['ref.iopt.domain-mirrors-areas', 'ref.mock.map-pins-once-two-domains', 'ref.mock.domain-added-after-map', 'ref.iopt.random-sequences-keep-invariants']),
  e('IOPT.ADD_DOMAIN.PGSIZE', 'IOMMU_HWPT_ALLOC', 'EINVAL', 'iopt_table_add_domain', IOPT, 'A domain whose smallest page size exceeds PAGE_SIZE cannot join an IOAS (EINVAL).', ['ref.iopt.add-domain-errors']),
  e('IOPT.ADD_DOMAIN.MISALIGNED', 'IOMMU_HWPT_ALLOC', 'EADDRINUSE', 'iopt_check_iova_alignment', IOPT, 'A domain that would raise the alignment above an existing area’s fails with EADDRINUSE.', ['ref.iopt.add-domain-errors']),
  e('IOPT.ADD_DOMAIN.APERTURE', 'IOMMU_HWPT_ALLOC', 'EADDRINUSE', 'iopt_reserve_iova', IOPT, 'A domain whose aperture excludes an existing area or allowed range fails with EADDRINUSE and reserves nothing.', ['ref.iopt.add-domain-errors', 'ref.iopt.aperture-reserved']),
  r('IOPT.ADD_DOMAIN.RESERVES_APERTURE', 'state', undefined, 'iopt_table_add_domain', IOPT, 'A domain’s out-of-aperture space becomes reserved and its smallest page size raises the IOVA alignment, until the domain is removed.', ['ref.iopt.aperture-reserved', 'ref.mock.ids-and-ranges', 'ref.mock.domain-added-after-map']),
  { ...e('IOPT.RESERVE.EADDRINUSE', 'IOMMU_TEST_CMD', 'EADDRINUSE', 'iopt_reserve_iova', IOPT, 'A reservation intersecting an area or an allowed range fails with EADDRINUSE.', ['ref.test.add-reserved']), events: ['IOMMU_TEST_OP_ADD_RESERVED'] },
];
