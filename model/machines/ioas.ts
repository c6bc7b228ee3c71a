/**
 * IOAS (struct iommufd_ioas, IOMMUFD_OBJ_IOAS): an IO address space. Empty
 * until the first area is mapped; its users (paging HWPTs built on it,
 * attached accesses) keep it from being destroyed. drivers/iommu/iommufd/ioas.c,
 * io_pagetable.c, vfio_compat.c.
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';
import { addArea, covered, cutAndUnmap, intersects, lockRange, unmapRange, U64_MAX, type Area } from './areas.ts';

export interface IoasContext {
  readonly areas: readonly Area[];
  /** iopt.disable_large_pages is false (IOMMU_OPTION_HUGE_PAGES, VFIO_TYPE1_IOMMU). */
  readonly hugePages: boolean;
}

interface Range {
  readonly start: bigint;
  readonly last: bigint;
}

export type IoasEvent =
  | { readonly type: 'IOMMU_IOAS_ALLOC' }
  /** fixed: IOMMU_IOAS_MAP_FIXED_IOVA (VFIO maps always are): the range is the caller's, not the allocator's. */
  | ({ readonly type: 'IOMMU_IOAS_MAP' | 'IOMMU_IOAS_MAP_FILE' | 'VFIO_IOMMU_MAP_DMA'; readonly file: boolean; readonly fixed: boolean; readonly noPerm?: boolean } & Range)
  /**
   * cuts (dst): offsets into the range where one source area ends and the next
   * begins — iopt_get_pages returns one element per source area and
   * iopt_map_pages makes one destination area per element.
   */
  | ({ readonly type: 'IOMMU_IOAS_COPY'; readonly role: 'src' | 'dst'; readonly fixed: boolean; readonly cuts?: readonly bigint[] } & Range)
  | ({ readonly type: 'IOMMU_IOAS_UNMAP'; readonly all: boolean } & Range)
  | ({ readonly type: 'VFIO_IOMMU_UNMAP_DMA'; readonly all: boolean } & Range)
  /** users: references besides the object table's (HWPTs on it, attached accesses); role hw_queue: a queue on it went away. */
  | ({ readonly type: 'IOMMU_DESTROY'; readonly role: 'self' | 'hw_queue'; readonly users: number } & Range)
  | { readonly type: 'close' }
  /** disable: SET 0 of IOMMU_OPTION_HUGE_PAGES, or VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU); domains: paging HWPTs on the IOAS. */
  | { readonly type: 'IOMMU_OPTION' | 'VFIO_SET_IOMMU'; readonly set: boolean; readonly disable: boolean; readonly domains: number }
  | { readonly type: 'IOMMU_IOAS_CHANGE_PROCESS' }
  | ({ readonly type: 'IOMMU_HW_QUEUE_ALLOC' } & Range);

type E<T extends IoasEvent['type']> = EventOf<IoasEvent, T>;
const r = (e: IoasEvent): Range => e as unknown as Range;

function unmapOutcome(c: IoasContext, e: IoasEvent) {
  const { start, last } = r(e);
  if (e.type === 'IOMMU_IOAS_UNMAP' && e.all) return unmapRange(c.areas, 0n, U64_MAX);
  if (e.type === 'VFIO_IOMMU_UNMAP_DMA') {
    if (e.all) return unmapRange(c.areas, 0n, U64_MAX);
    if (!c.hugePages) return cutAndUnmap(c.areas, start, last);
  }
  return unmapRange(c.areas, start, last);
}

export const ioas = defineObjectMachine<IoasContext, IoasEvent>({
  id: 'ioas',
  title: 'IOAS',
  kernel: 'struct iommufd_ioas (IOMMUFD_OBJ_IOAS)',
  description:
    'An IO address space: empty until an area is mapped (MAP, MAP_FILE, COPY, VFIO_IOMMU_MAP_DMA), back to empty when the last area is unmapped. Areas are never split by IOMMU_IOAS_UNMAP; an unmap that meets an area only partly inside the range, or locked by a HW queue, stops there after unmapping the areas before it. Paging HWPTs built on it and attached accesses are its users: IOMMU_DESTROY fails with EBUSY while any exists.',
  context: { areas: [], hugePages: true },
  events: [
    'IOMMU_IOAS_ALLOC',
    'IOMMU_IOAS_MAP',
    'IOMMU_IOAS_MAP_FILE',
    'VFIO_IOMMU_MAP_DMA',
    'IOMMU_IOAS_COPY',
    'IOMMU_IOAS_UNMAP',
    'VFIO_IOMMU_UNMAP_DMA',
    'IOMMU_DESTROY',
    'close',
    'IOMMU_OPTION',
    'VFIO_SET_IOMMU',
    'IOMMU_IOAS_CHANGE_PROCESS',
    'IOMMU_HW_QUEUE_ALLOC',
  ],
  guards: {
    hasUsers: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0,
      doc: 'another object holds the IOAS: a paging HWPT built on it, an attached access (users > 1)',
      clauses: ['DESTROY.EBUSY', 'IOAS.DESTROY_ONLY_WITHOUT_USERS'],
    },
    releasesQueueLock: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).role === 'hw_queue',
      doc: 'the event destroys a HW queue whose guest queue memory this IOAS maps: its area lock goes',
      clauses: ['HW_QUEUE.LOCKS_AREA'],
    },
    copySourceNotCovered: {
      fn: (c, e) => (e as E<'IOMMU_IOAS_COPY'>).role === 'src' && !covered(c.areas, r(e).start, r(e).last),
      doc: 'the copy source range is not covered by contiguous areas',
      clauses: ['IOAS_COPY.NOT_COVERED'],
    },
    fixedRangeOverlaps: {
      fn: (c, e) => (e as E<'IOMMU_IOAS_MAP'>).fixed && (e as E<'IOMMU_IOAS_COPY'>).role !== 'src' && intersects(c.areas, r(e).start, r(e).last),
      doc: 'a fixed IOVA range intersects an existing area',
      clauses: ['IOAS_MAP.OVERLAP', 'IOAS_COPY.DST_CHECKS'],
    },
    isCopySource: {
      fn: (_c, e) => (e as E<'IOMMU_IOAS_COPY'>).role === 'src',
      doc: 'this IOAS is the source of the copy (it does not change)',
    },
    unmapsAll: {
      fn: (_c, e) => (e as E<'IOMMU_IOAS_UNMAP'>).all,
      doc: 'iova 0, length U64_MAX (or VFIO_DMA_UNMAP_FLAG_ALL): unmap everything, success even when nothing is mapped',
      clauses: ['IOAS_UNMAP.ALL'],
    },
    unmapHitsLockedArea: {
      fn: (c, e) => unmapOutcome(c, e).errno === 'EBUSY',
      doc: 'an area in the range is locked by a HW queue (areas before it are already unmapped)',
      clauses: ['HW_QUEUE.LOCKS_AREA'],
    },
    unmapSplitsArea: {
      fn: (c, e) => unmapOutcome(c, e).errno === 'ENOENT',
      doc: 'an area is only partly inside the range: areas are never split (areas before it are already unmapped)',
      clauses: ['IOAS_UNMAP.NO_SPLIT'],
    },
    unmapHitsNothing: {
      fn: (c, e) => e.type === 'IOMMU_IOAS_UNMAP' && unmapOutcome(c, e).unmapped === 0n,
      doc: 'no area inside the range',
      clauses: ['IOAS_UNMAP.NOTHING'],
    },
    unmapLeavesNone: {
      fn: (c, e) => unmapOutcome(c, e).areas.length === 0,
      doc: 'the unmap removes the last area',
    },
    disablesWithDomainsAndAreas: {
      fn: (c, e) => {
        const o = e as E<'IOMMU_OPTION'>;
        // iopt_disable_large_pages returns 0 at once when they are off already.
        return o.set && o.disable && c.hugePages && o.domains > 0 && c.areas.length > 0;
      },
      doc: 'disabling large pages, still on, while the IOAS has both domains and areas',
      clauses: ['OPTION.HUGE_PAGES.DOMAINS_AND_AREAS'],
    },
    hasNonFileArea: {
      fn: (c) => c.areas.some((a) => !a.file),
      doc: 'an area was not created by IOMMU_IOAS_MAP_FILE',
      clauses: ['IOAS_CHANGE_PROCESS.FILE_AREAS_ONLY'],
    },
    queueMemoryNotMapped: {
      fn: (c, e) => !covered(c.areas, r(e).start, r(e).last),
      doc: 'the HW queue memory is not covered by contiguous areas of the IOAS',
      clauses: ['HW_QUEUE.MEMORY_MAPPED'],
    },
  },
  actions: {
    addArea: (c, e) => {
      const { start, last } = r(e);
      const cuts = e.type === 'IOMMU_IOAS_COPY' ? (e.cuts ?? []) : [];
      let areas = c.areas;
      let from = start;
      for (const cut of cuts) {
        areas = addArea(areas, from, start + cut - 1n, false);
        from = start + cut;
      }
      return { ...c, areas: addArea(areas, from, last, (e as E<'IOMMU_IOAS_MAP'>).file === true, (e as E<'IOMMU_IOAS_MAP'>).noPerm === true) };
    },
    unmap: (c, e) => ({ ...c, areas: unmapOutcome(c, e).areas }),
    setHugePages: (c, e) => {
      const o = e as E<'IOMMU_OPTION'>;
      return o.set ? { ...c, hugePages: !o.disable } : c;
    },
    lockQueueMemory: (c, e) => ({ ...c, areas: lockRange(c.areas, r(e).start, r(e).last, 1) }),
    unlockQueueMemory: (c, e) => ({ ...c, areas: lockRange(c.areas, r(e).start, r(e).last, -1) }),
  },
  initial: 'absent',
  states: {
    absent: {
      description: 'not allocated',
      on: { IOMMU_IOAS_ALLOC: { target: 'live', meta: { clauses: ['IOAS_ALLOC.FRESH', 'OBJECTS.LOWEST_FREE_ID'] } } },
    },
    live: {
      initial: 'empty',
      on: {
        IOMMU_DESTROY: [
          { guard: 'releasesQueueLock', actions: 'unlockQueueMemory', meta: { clauses: ['HW_QUEUE.LOCKS_AREA'] } },
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['DESTROY.EBUSY', 'IOAS.DESTROY_ONLY_WITHOUT_USERS'] } },
          { target: 'destroyed', meta: { clauses: ['IOAS.DESTROY_ONLY_WITHOUT_USERS', 'IOAS.DESTROY_UNMAPS'] } },
        ],
        close: { target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
        IOMMU_OPTION: [
          { guard: 'disablesWithDomainsAndAreas', meta: { refuse: 'EINVAL', clauses: ['OPTION.HUGE_PAGES.DOMAINS_AND_AREAS'] } },
          { actions: 'setHugePages' },
        ],
        VFIO_SET_IOMMU: [
          { guard: 'disablesWithDomainsAndAreas', meta: { refuse: 'EINVAL', clauses: ['OPTION.HUGE_PAGES.DOMAINS_AND_AREAS'] } },
          { actions: 'setHugePages', meta: { clauses: ['VFIO_COMPAT.SET_IOMMU'] } },
        ],
        IOMMU_IOAS_CHANGE_PROCESS: [{ guard: 'hasNonFileArea', meta: { refuse: 'EINVAL', clauses: ['IOAS_CHANGE_PROCESS.FILE_AREAS_ONLY'] } }, {}],
        IOMMU_IOAS_COPY: [
          { guard: 'copySourceNotCovered', meta: { refuse: 'ENOENT', clauses: ['IOAS_COPY.NOT_COVERED'] } },
          { guard: 'isCopySource' },
          { guard: 'fixedRangeOverlaps', meta: { refuse: 'EEXIST', clauses: ['IOAS_COPY.DST_CHECKS'] } },
          { target: '.mapped', actions: 'addArea', meta: { clauses: ['IOAS_COPY.SHARES_PAGES'] } },
        ],
        IOMMU_IOAS_MAP: [{ guard: 'fixedRangeOverlaps', meta: { refuse: 'EEXIST', clauses: ['IOAS_MAP.OVERLAP'] } }, { target: '.mapped', actions: 'addArea' }],
        IOMMU_IOAS_MAP_FILE: [{ guard: 'fixedRangeOverlaps', meta: { refuse: 'EEXIST', clauses: ['IOAS_MAP.OVERLAP'] } }, { target: '.mapped', actions: 'addArea' }],
        VFIO_IOMMU_MAP_DMA: [
          { guard: 'fixedRangeOverlaps', meta: { refuse: 'EEXIST', clauses: ['IOAS_MAP.OVERLAP'] } },
          { target: '.mapped', actions: 'addArea', meta: { clauses: ['VFIO_COMPAT.MAP_DMA'] } },
        ],
        IOMMU_HW_QUEUE_ALLOC: [
          { guard: 'queueMemoryNotMapped', meta: { refuse: 'ENOENT', clauses: ['HW_QUEUE.MEMORY_MAPPED'] } },
          { actions: 'lockQueueMemory', meta: { clauses: ['HW_QUEUE.LOCKS_AREA'] } },
        ],
      },
      states: {
        empty: {
          description: 'no area',
          on: {
            IOMMU_IOAS_UNMAP: [{ guard: 'unmapsAll', meta: { clauses: ['IOAS_UNMAP.ALL'] } }, { meta: { refuse: 'ENOENT', clauses: ['IOAS_UNMAP.NOTHING'] } }],
            VFIO_IOMMU_UNMAP_DMA: { meta: { clauses: ['VFIO_COMPAT.UNMAP_DMA'] } },
          },
        },
        mapped: {
          description: 'at least one area',
          on: {
            IOMMU_IOAS_UNMAP: [
              { guard: 'unmapHitsLockedArea', actions: 'unmap', meta: { refuse: 'EBUSY', clauses: ['HW_QUEUE.LOCKS_AREA'] } },
              { guard: 'unmapSplitsArea', actions: 'unmap', meta: { refuse: 'ENOENT', clauses: ['IOAS_UNMAP.NO_SPLIT'] } },
              { guard: 'unmapHitsNothing', meta: { refuse: 'ENOENT', clauses: ['IOAS_UNMAP.NOTHING'] } },
              { guard: 'unmapLeavesNone', target: 'empty', actions: 'unmap', meta: { clauses: ['IOAS_UNMAP.SUPERSET'] } },
              { actions: 'unmap', meta: { clauses: ['IOAS_UNMAP.SUPERSET'] } },
            ],
            VFIO_IOMMU_UNMAP_DMA: [
              { guard: 'unmapHitsLockedArea', actions: 'unmap', meta: { refuse: 'EBUSY', clauses: ['HW_QUEUE.LOCKS_AREA'] } },
              { guard: 'unmapSplitsArea', actions: 'unmap', meta: { refuse: 'ENOENT', clauses: ['VFIO_COMPAT.TYPE1_SPLIT'] } },
              { guard: 'unmapLeavesNone', target: 'empty', actions: 'unmap', meta: { clauses: ['VFIO_COMPAT.UNMAP_DMA', 'VFIO_COMPAT.TYPE1_SPLIT'] } },
              { actions: 'unmap', meta: { clauses: ['VFIO_COMPAT.UNMAP_DMA', 'VFIO_COMPAT.TYPE1_SPLIT'] } },
            ],
          },
        },
      },
    },
    destroyed: { type: 'final', description: 'destroyed; its id is free again' },
  },
});

export { unmapOutcome };
