/**
 * VFIO type1 container compatibility and IOMMU_VFIO_IOAS
 * (drivers/iommu/iommufd/vfio_compat.c), as the reference implements them
 * (impl/iommufd/vfio_compat.ts).
 */
import { BOTH, type Clause } from './types.ts';

const VC = 'drivers/iommu/iommufd/vfio_compat.c';

export const clauses: Clause[] = [
  {
    id: 'VFIO_IOAS.RESERVED',
    kind: 'errno',
    command: 'IOMMU_VFIO_IOAS',
    errno: 'EOPNOTSUPP',
    statement: 'IOMMU_VFIO_IOAS with a non-zero __reserved or an op other than GET/SET/CLEAR fails with EOPNOTSUPP.',
    source: { file: VC, function: 'iommufd_vfio_ioas' },
    profiles: BOTH,
    checks: ['ref.vfio_ioas.errno-order'],
  },
  {
    id: 'VFIO_IOAS.GET_ENODEV',
    decides: ['ENODEV'],
    kind: 'errno',
    command: 'IOMMU_VFIO_IOAS',
    errno: 'ENODEV',
    statement: 'GET without a compat IOAS fails with ENODEV.',
    source: { file: VC, function: 'iommufd_vfio_ioas' },
    profiles: BOTH,
    checks: ['ref.vfio_ioas.errno-order'],
  },
  {
    id: 'VFIO_IOAS.SET_ENOENT',
    decides: ['ENOENT'],
    kind: 'errno',
    command: 'IOMMU_VFIO_IOAS',
    errno: 'ENOENT',
    statement: 'SET of an id that is not an IOAS fails with ENOENT; SET takes no reference and CLEAR destroys nothing.',
    source: { file: VC, function: 'iommufd_vfio_ioas' },
    profiles: BOTH,
    checks: ['ref.vfio_ioas.errno-order'],
  },
  {
    id: 'VFIO_COMPAT.EXTENSIONS',
    kind: 'state',
    command: 'VFIO_CHECK_EXTENSION',
    statement:
      'VFIO_GET_API_VERSION returns 0; CHECK_EXTENSION returns 1 for TYPE1, TYPE1v2 and UNMAP_ALL (0 in no-iommu mode), NOIOMMU as built and DMA_CC_IOMMU as the domains enforce, and 0 for every other number: nesting (which SET_IOMMU refuses), UPDATE_VADDR, the SPAPR types, numbers nothing defines; other container ioctls (DIRTY_PAGES) fail with ENOTTY.',
    source: { file: VC, function: 'iommufd_vfio_check_extension' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.extensions', 'ref.vfio_compat.noiommu', 'suite.invariants.unimplemented-extension-is-zero'],
  },
  {
    id: 'VFIO_COMPAT.DMA_CC_IOMMU',
    kind: 'security',
    command: 'VFIO_CHECK_EXTENSION',
    statement: 'CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) is 1 iff every paging HWPT of the compat IOAS enforces cache coherency; ENODEV without a compat IOAS.',
    source: { file: VC, function: 'iommufd_vfio_cc_iommu' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.cc-iommu', 'ref.vfio_compat.extensions', 'ref.adapter.dma-cc-iommu-follows-domains', 'suite.invariants.cc-iommu-when-every-domain-enforces', 'suite.invariants.cc-iommu-needs-compat-ioas'],
  },
  {
    id: 'VFIO_COMPAT.SET_IOMMU',
    kind: 'errno',
    command: 'VFIO_SET_IOMMU',
    errno: 'EINVAL',
    statement:
      'SET_IOMMU: a type other than TYPE1/TYPE1v2 (or no-iommu mode) → EINVAL, NOIOMMU too outside no-iommu mode (a context only a VFIO no-iommu group puts in it), tested before the compat IOAS; then no compat IOAS → ENODEV; NOIOMMU in no-iommu mode needs CAP_SYS_RAWIO (EPERM); TYPE1 (v1) disables large pages on the compat IOAS.',
    source: { file: VC, function: 'iommufd_vfio_set_iommu' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.set-iommu-errno', 'ref.vfio_compat.noiommu', 'suite.invariants.noiommu-needs-noiommu-mode', 'suite.invariants.set-iommu-type-first'],
  },
  {
    id: 'VFIO_COMPAT.MAP_DMA',
    kind: 'errno',
    command: 'VFIO_IOMMU_MAP_DMA',
    errno: 'EINVAL',
    statement: 'MAP_DMA: argsz below 32 or unknown flags → EINVAL; no compat IOAS → ENODEV; then IOAS_MAP’s rules at the fixed iova.',
    source: { file: VC, function: 'iommufd_vfio_map_dma' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.map-unmap-errno', 'ref.vfio_compat.type1-splits'],
  },
  {
    id: 'VFIO_COMPAT.UNMAP_DMA',
    kind: 'errno',
    command: 'VFIO_IOMMU_UNMAP_DMA',
    errno: 'EINVAL',
    statement:
      'UNMAP_DMA: argsz below 24 or flags other than ALL → EINVAL; no compat IOAS → ENODEV; ALL needs iova = size = 0 (EINVAL); unmapping nothing succeeds with size 0; size returns the bytes unmapped, on a failure of the unmap too (a type1 v2 range that ends inside a mapping: ENOENT, with the areas before it gone).',
    source: { file: VC, function: 'iommufd_vfio_unmap_dma' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.map-unmap-errno', 'ref.vfio_compat.type1v2-no-split', 'suite.invariants.unmap-dma-size-on-failure'],
  },
  {
    id: 'VFIO_COMPAT.TYPE1_SPLIT',
    decides: ['ENOENT'],
    kind: 'state',
    command: 'VFIO_IOMMU_UNMAP_DMA',
    statement: 'In TYPE1 (v1) mode (large pages off on the compat IOAS) UNMAP_DMA first cuts the areas at both ends of the range, so unmapping inside a mapping succeeds — iopt_area_split refuses a cut only at a point not aligned to the IOAS alignment (in IOVA or in the pages) or in an area an access holds pages of; in TYPE1v2 a partial hit fails with ENOENT. After the cuts every area the range meets lies inside it but one that starts at the range\'s last IOVA (a cut at an area\'s first IOVA is a no-op), which the walk reaches last, after removing the rest, and refuses with ENOENT; areas start on pages with large pages off, so with the range\'s last IOVA inside a page an ENOENT leaves every mapping in place.',
    source: { file: VC, function: 'iommufd_vfio_unmap_dma' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.type1-splits', 'ref.vfio_compat.type1-cut-at-area-start', 'ref.vfio_compat.type1v2-no-split', 'machines.areas.type1-cut-at-area-start', 'suite.invariants.type1v2-never-cuts', 'suite.invariants.type1-cut-succeeds', 'suite.invariants.type1-enoent-unmapped-nothing', 'suite.invariants.type1-cut-at-area-start'],
  },
  {
    id: 'VFIO_COMPAT.GET_INFO',
    kind: 'state',
    command: 'VFIO_IOMMU_GET_INFO',
    statement:
      'GET_INFO reports flags PGSIZES|CAPS on every answer, whatever room the caller gave for the capabilities, iova_pgsizes = the domains’ common page sizes (the AND of every domain’s pgsize_bitmap) with sub-page sizes folded to PAGE_SIZE, no less than the IOAS alignment, then the DMA_AVAIL (U32_MAX) and IOVA_RANGE capabilities  when argsz has room; argsz returns the full size (the struct and each capability rounded up to 8 bytes), whatever room the caller gave; the struct is filled from zero, so pad comes back 0. Nothing is written past argsz: a capability, and each IOVA range of IOVA_RANGE, is copied only where argsz holds all of it (iommufd_fill_cap_iova tests the room for nr_iovas + 1 ranges before the next).',
    source: { file: VC, function: 'iommufd_vfio_iommu_get_info' },
    profiles: BOTH,
    checks: ['ref.vfio_compat.get-info', 'suite.invariants.get-info-argsz-is-the-chain', 'suite.invariants.get-info-within-argsz', 'suite.invariants.get-info-short-struct', 'suite.invariants.compat-page-sizes-mock', 'suite.invariants.get-info-pad-is-zero', 'suite.invariants.compat-page-sizes', 'suite.invariants.compat-cap-iova-range-is-the-holes', 'suite.invariants.get-info-flags'],
  },
];
