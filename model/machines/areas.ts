/**
 * The areas of an IOAS as the lifecycle machines track them: one inclusive
 * IOVA range per successful MAP / MAP_FILE / COPY / VFIO_IOMMU_MAP_DMA, never
 * split by IOMMU_IOAS_UNMAP (io_pagetable.c: iopt_unmap_iova_range), cut only
 * by VFIO type1 v1 unmaps (vfio_compat.c: iommufd_vfio_unmap_dma →
 * iopt_cut_iova). `locks` counts HW queues pinning the area (iopt_area
 * num_locks, 7.3); `file` marks MAP_FILE areas (IOAS_CHANGE_PROCESS accepts
 * only those). Pure functions over sorted, disjoint arrays.
 */
export interface Area {
  readonly start: bigint;
  readonly last: bigint;
  readonly file: boolean;
  readonly locks: number;
  /** Mapped with neither READ nor WRITE (type1 compat): a domain cannot be filled from it the machines can say how. */
  readonly noPerm?: boolean;
}

export const U64_MAX = (1n << 64n) - 1n;

export function addArea(areas: readonly Area[], start: bigint, last: bigint, file: boolean, noPerm = false): Area[] {
  const out = [...areas, { start, last, file, locks: 0, ...(noPerm && { noPerm }) }];
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}

export interface UnmapOutcome {
  readonly areas: readonly Area[];
  readonly unmapped: bigint;
  /** Set when iopt_unmap_iova_range stops early (areas before the stop are already gone). */
  readonly errno?: 'ENOENT' | 'EBUSY';
}

/**
 * iopt_unmap_iova_range over [start, last]: areas are visited in IOVA order;
 * a locked area gives EBUSY, an area not fully inside gives ENOENT, every
 * earlier area is already unmapped (the ioctl is not atomic).
 */
export function unmapRange(areas: readonly Area[], start: bigint, last: bigint): UnmapOutcome {
  const kept: Area[] = [];
  let unmapped = 0n;
  let errno: UnmapOutcome['errno'];
  for (const a of areas) {
    if (errno || a.last < start || a.start > last) {
      kept.push(a);
      continue;
    }
    if (a.locks > 0) errno = 'EBUSY';
    else if (a.start < start || a.last > last) errno = 'ENOENT';
    if (errno) {
      kept.push(a);
      continue;
    }
    unmapped += a.last - a.start + 1n;
  }
  return { areas: kept, unmapped, ...(errno ? { errno } : {}) };
}

/** iopt_cut_iova at `iova`: the area containing it is split after iova (VFIO type1 v1). */
function cutAfter(areas: readonly Area[], iova: bigint): Area[] {
  const out: Area[] = [];
  for (const a of areas) {
    // iopt_area_split: a cut at an area's first or last IOVA leaves it whole.
    if (a.start < iova && iova < a.last) {
      out.push({ ...a, last: iova }, { ...a, start: iova + 1n });
    } else out.push(a);
  }
  return out;
}

/** VFIO type1 v1: cut at both ends of [start, last], then unmap whole areas. */
export function cutAndUnmap(areas: readonly Area[], start: bigint, last: bigint): UnmapOutcome {
  let cut = cutAfter(areas, last);
  if (start > 0n) cut = cutAfter(cut, start - 1n);
  return unmapRange(cut, start, last);
}

/** iopt_get_pages: [start, last] lies in contiguous areas (sub-ranges of an area are fine). */
export function covered(areas: readonly Area[], start: bigint, last: bigint): boolean {
  let next = start;
  for (const a of areas) {
    if (a.last < next) continue;
    if (a.start > next) return false;
    if (a.last >= last) return true;
    next = a.last + 1n;
  }
  return false;
}

/** Adds `delta` to the lock count of every area [start, last] touches. */
export function lockRange(areas: readonly Area[], start: bigint, last: bigint, delta: number): Area[] {
  return areas.map((a) => (a.last < start || a.start > last ? a : { ...a, locks: a.locks + delta }));
}

export function intersects(areas: readonly Area[], start: bigint, last: bigint): boolean {
  return areas.some((a) => !(a.last < start || a.start > last));
}
