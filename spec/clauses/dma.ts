/**
 * Device DMA in the simulated machine: an access goes through the group's
 * current domain, the IOMMU's IOTLB and page table, into the physical pages
 * pinned for the user's buffer. Kernel counterparts: the IOMMU hardware walk
 * and drivers/iommu/iommufd/io_pagetable.c (iopt_area_fill_domain /
 * iopt_area_unfill_domain keep the domain equal to the IOAS).
 */
import { BOTH, type Clause } from './types.ts';

const IOPT = 'drivers/iommu/iommufd/io_pagetable.c';

export const clauses: Clause[] = [
  {
    id: 'DMA.LANDS_ON_USER_PAGES',
    kind: 'security',
    statement: 'A device DMA to a mapped IOVA reads and writes exactly the user buffer’s pages behind the mapping (translation: the attached domain’s page table).',
    source: { file: IOPT, function: 'iopt_area_fill_domain' },
    profiles: BOTH,
    checks: ['ref.dma.lands-on-user-pages', 'ref.selftest.md-check-map', 'ref.adapter.device-dma-kvm', 'suite.invariants.joining-device-translates-the-ioas', 'suite.invariants.end-sweep-covers-the-ioas', 'suite.content.follows-writes', 'suite.content.unknown-until-read-whole', 'mutants.answer-faults.killed-by-invariants', 'mutants.unseen.killed-by-invariants'],
  },
  {
    id: 'DMA.ONE_PHYSICAL_MEMORY',
    kind: 'security',
    statement:
      'User pages (pinned for DMA) and IOMMU page-table pages are pages of one physical memory, accounted apart (page tables as NR_IOMMU_PAGES-like table pages): a table page goes back when its domain is freed, a user page when it is neither mapped nor pinned; after every file is closed no table page and no data page outside the process’s own mappings remains.',
    source: { file: 'drivers/iommu/iommu-pages.h', function: 'iommu_alloc_pages_node' },
    profiles: BOTH,
    checks: ['ref.process.user-pages-are-data-pages', 'ref.process.mmap-enomem-atomic', 'ref.platform.shared-memory', 'ref.adapter.close-releases-kvm-held-devices'],
  },
  {
    id: 'DMA.FAULTS',
    kind: 'security',
    statement: 'A device with no attachment is blocked; an unmapped IOVA faults; a write to a read-only mapping faults; a faulting access has no effect. The fault names its cause at the first page the access may not cross: no translation (unmapped) or a missing permission (permission).',
    source: { file: 'drivers/iommu/iommufd/device.c', function: 'iommufd_device_detach' },
    profiles: BOTH,
    checks: ['ref.dma.faults', 'suite.invariants.dma-fault-kind', 'suite.invariants.dma-read-of-write-only-page'],
  },
  {
    id: 'DMA.NO_STALE_TRANSLATION',
    kind: 'security',
    statement:
      'After IOAS_UNMAP returns, no device can reach the unmapped pages: the IOTLB entries of every unit using the domain are invalidated, and a domain no device was attached to when the unmap ran holds none of them when a device is attached to it again.',
    source: { file: IOPT, function: 'iopt_area_unfill_domain' },
    profiles: BOTH,
    checks: ['ref.dma.iotlb-invalidated-on-unmap', 'suite.invariants.unmapped-while-away'],
  },
  {
    id: 'DMA.LARGE_LEAF_OVER_TABLE',
    kind: 'security',
    statement:
      'A map that puts a large leaf where an empty lower-level table is linked (a span a device has walked, whose last small mapping was unmapped) frees that table only after the IOTLB and walk caches of every unit using the domain are invalidated: a device at that IOVA then reaches the new mapping, never the freed table page.',
    source: { file: 'drivers/iommu/generic_pt/iommu_pt.h', function: 'map_range' },
    profiles: BOTH,
    checks: ['ref.process.huge-aligned-maps-large-leaves', 'suite.invariants.large-leaf-over-walked-table'],
  },
  {
    id: 'DMA.LEAF_SIZE_FROM_BOTH_ADDRESSES',
    kind: 'security',
    statement:
      'A map uses a page size only where the IOVA and the physical address are both aligned to it (iommu_pgsize merges the two addresses; generic_pt sizes a leaf from the IOVA and the output address): the hardware takes a large leaf’s output address from the bits at and above its size, so a leaf over memory not aligned to it sends the device to other memory.',
    source: { file: 'drivers/iommu/iommu.c', function: 'iommu_pgsize' },
    profiles: BOTH,
    checks: ['suite.invariants.dma-lands-where-mapped'],
  },
  {
    id: 'DMA.ISOLATION',
    kind: 'security',
    statement: 'A device attached to another IOAS (another domain) cannot reach a buffer mapped only in this IOAS.',
    source: { file: 'drivers/iommu/iommufd/device.c', function: 'iommufd_device_attach' },
    profiles: BOTH,
    checks: ['ref.dma.isolation'],
  },
  {
    id: 'DMA.TRANSLATE_IS_IOVA_TO_PHYS',
    kind: 'state',
    statement:
      'The translate observation reports what iommu_iova_to_phys reports for the device’s domain — the output address of any present leaf with its permissions, write-only leaves included — and, being a software lookup, fills no IOTLB entry and sets no accessed/dirty bit.',
    source: { file: 'drivers/iommu/iommu.c', function: 'iommu_iova_to_phys' },
    profiles: BOTH,
    checks: ['ref.translate.write-only-and-no-side-effects'],
  },
  {
    id: 'DMA.WRITE_ONLY_UNREADABLE',
    kind: 'security',
    statement:
      'Where a domain\u2019s IOPTEs carry the read and write permissions apart — AMD v1 (IR, IW: 6.12 iommu_v1_map_pages, 7.3 generic_pt amdv1), the 7.3 VT-d second stage (R, W: vtdss_pt_iommu_set_prot; 6.12 always sets R) and an SMMUv3 stage-2 table, which a 7.3 nesting parent is (S2AP: arm_smmu_domain_alloc_paging_flags builds NEST_PARENT as ARM_SMMU_DOMAIN_S2) — a write-only map translates without read, and a device read of it faults (permission).',
    source: { file: 'drivers/iommu/amd/io_pgtable.c', function: 'iommu_v1_map_pages' },
    profiles: BOTH,
    checks: ['suite.invariants.write-only-stays-unreadable', 'suite.invariants.write-only-stays-unreadable-s2'],
  },
  {
    id: 'DMA.VTD612_WRITE_ONLY_READABLE',
    kind: 'state',
    statement:
      'On 6.12 a VT-d second-stage leaf always carries the read bit (__domain_mapping ORs DMA_FL_PTE_PRESENT, which is bit 0, into every leaf), so a device may read through a write-only map; 7.3 (generic_pt vtdss) sets R only for IOMMU_READ.',
    source: { file: 'drivers/iommu/intel/iommu.c', function: '__domain_mapping' },
    profiles: ['6.12'],
    checks: ['ref.translate.write-only-readable-on-612-vtd'],
  },
];
