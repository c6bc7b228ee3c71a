/**
 * Faults the suite was not written against: two red-team rounds (the third
 * and fourth; the first two were not kept) in which engineers who knew the
 * reference's code, but were not shown the invariants' rules, wrote
 * realistic kernel-style bugs (round 3: sixteen, round 4: twelve) and ran
 * `--oracle invariants` on them. Each one is a module under unseen/
 * exporting `createAdapter(profile)` through the mutant harness, so any of
 * them is an `--impl` path:
 *
 *   iommufd-spec run --impl conformance/mutants/unseen/<file>.ts --oracle invariants
 *
 * Of the 28, 19 were caught as written. Of the nine that were not, eight
 * showed a gap that was then closed in the suite itself, for the whole class
 * rather than the one fault (`closed` says how); one is still open (`open`
 * says why), the suite's known miss.
 * unseen-killed.test.ts holds the invariants to killing every fault that is
 * not open at run's default budget, so a change to the generator or the
 * oracle cannot quietly reopen a gap.
 */

import { fileURLToPath } from 'node:url';
import type { MutantClass } from './catalogue.ts';

export interface UnseenFault {
  /** The module under unseen/ (its name without .ts is the fault's name). */
  readonly file: string;
  /** The invariant family it breaks, as the catalogue's classes. */
  readonly class: MutantClass;
  /** Where the bug is, in the kernel's terms. */
  readonly where: string;
  /** The bug, in one sentence. */
  readonly bug: string;
  /** Which red-team round wrote it. */
  readonly round: 3 | 4;
  /** For the ones the suite missed at first: what closed the gap. */
  readonly closed?: string;
  /** A miss not closed yet: why the suite does not catch it (the test does not ask it to). */
  readonly open?: string;
}

export const UNSEEN_FAULTS: readonly UnseenFault[] = [
  { file: 'copy-src-offset-dropped.ts', class: 'confinement', round: 3, where: 'iopt_get_pages', bug: 'IOAS_COPY from the middle of an area maps the area from its first page (start_byte from the area, not the cursor)' },
  { file: 'unmap-tail-check-missing.ts', class: 'confinement', round: 3, where: 'iopt_unmap_iova_range', bug: 'an unmap ending inside an area removes the whole area (only the head is checked for a cut)' },
  { file: 'unfill-storage-domain-only.ts', class: 'confinement', round: 3, where: 'iopt_area_unfill_domains', bug: 'unmapping an area leaves its PTEs in every domain but the storage one' },
  { file: 'access-pin-enoent-no-unwind.ts', class: 'accounting', round: 3, where: 'iommufd_access_pin_pages', bug: 'a pin of a range not fully mapped answers ENOENT without unpinning the pages it took', closed: 'generator: ACCESS_PAGES runs a page or two past its area now and then' },
  { file: 'access-rw-piece-length.ts', class: 'confinement', round: 3, where: 'iommufd_access_rw', bug: 'a read or write spanning two areas runs past the first area’s pages' },
  { file: 'copy-writable-over-readonly-pages.ts', class: 'confinement', round: 3, where: 'iopt_insert_area', bug: 'a writable COPY of an area whose pages were pinned read-only is accepted (writable PTEs over read-only memory)', closed: 'oracle: a writable copy needs source pages pinned for writing (checkCopySource)' },
  { file: 'unfill-skips-update-unpinned.ts', class: 'accounting', round: 3, where: '__iopt_area_unfill_domain', bug: 'pages are unpinned but stay charged to locked_vm' },
  { file: 'pt-unmap-covered-by-end.ts', class: 'confinement', round: 3, where: 'generic_pt __unmap_range', bug: 'a range reaching a leaf table’s end frees the table though it started inside it, with a neighbour’s leaves', closed: 'generator: two areas sharing one 2 MiB span, either unmapped (IOMMU_IOAS_UNMAP/span-neighbour)' },
  { file: 'replace-unresv-old-hwpt.ts', class: 'confinement', round: 3, where: 'iommufd_device_do_replace', bug: 'a failed replace takes the group’s reserved regions out of the IOAS it stays in, not the one it was going to', closed: 'generator: a device with reserved regions moved onto a foreign unit’s HWPT, then IOVA_RANGES of the IOAS it stays in' },
  { file: 'hwpt-alloc-fault-lookup-leaks.ts', class: 'lifetime', round: 3, where: 'iommufd_hwpt_alloc', bug: 'a failed fault-queue lookup leaves the new HWPT neither finalized nor aborted', closed: 'generator: HWPT_ALLOC with IOMMU_HWPT_FAULT_ID_VALID and a fault_id that names no fault queue' },
  { file: 'device-destroy-skips-ctx-put.ts', class: 'lifetime', round: 3, where: 'iommufd_device_destroy', bug: 'the context reference a bind took is never dropped: closing the iommufd releases nothing' },
  { file: 'user-hwpt-skips-enforce-cc.ts', class: 'coherency', round: 3, where: 'iommufd_hwpt_paging_alloc', bug: 'a user-allocated HWPT never enforces cache coherency' },
  { file: 'hw-info-copy-len-unclamped.ts', class: 'abi-hygiene', round: 3, where: 'iommufd_get_hw_info', bug: 'the driver’s whole info is copied, past a smaller user buffer (and a size query faults)', closed: 'oracle: GET_HW_INFO writes only up to data_len and a size query cannot fault; generator: buffers that run past data_len' },
  { file: 'compat-map-dma-flags-unchecked.ts', class: 'abi-hygiene', round: 3, where: 'iommufd_vfio_map_dma', bug: 'unknown VFIO_IOMMU_MAP_DMA flags run as a plain map' },
  { file: 'dma-owner-cookie-per-device.ts', class: 'isolation', round: 3, where: 'iommufd_device_bind', bug: 'DMA ownership claimed per device, not per context: a group’s second device cannot bind to the same context' },
  { file: 'ucmd-min-size-unchecked.ts', class: 'abi-hygiene', round: 3, where: 'iommufd_fops_ioctl', bug: 'a struct shorter than the command’s minimum size is zero-extended and run' },
  { file: 'vtd-psi-unaligned-mask.ts', class: 'confinement', round: 4, where: 'VT-d calculate_psi_aligned_address', bug: 'a page-selective invalidation of an unaligned range is not grown to cover it: the tail stays in the IOTLB' },
  { file: 'did-reuse-no-flush.ts', class: 'isolation', round: 4, where: 'domain id lifetime (ida_free)', bug: 'a domain id is recycled without a domain-selective flush: the next domain inherits cached translations' },
  { file: 'amd-inv-msb-off-by-one.ts', class: 'confinement', round: 4, where: 'AMD build_inv_address', bug: 'the encoded invalidation block is half the size needed and misses the range’s end' },
  { file: 'intel-capable-global-sc.ts', class: 'coherency', round: 4, where: 'intel_iommu_capable(ENFORCE_CACHE_COHERENCY)', bug: 'snoop control answered system-wide, not for the device’s own unit' },
  { file: 'pgsize-ignores-oa.ts', class: 'confinement', round: 4, where: 'generic_pt pt_compute_best_pgsize', bug: 'the page size is chosen from the IOVA’s alignment alone: a large leaf points at the wrong physical address' },
  { file: 'ioas-option-disable-with-mappings.ts', class: 'confinement', round: 4, where: 'iopt_disable_large_pages', bug: 'huge pages turned off while domains already map areas with large IOPTEs (which a later unmap inside cannot split)', closed: 'oracle: the shadow follows large pages per IOAS and refuses turning them off under mapped domains; generator: IOMMU_OPTION/huge-pages on an IOAS a domain holds' },
  { file: 'access-list-id-overwrite.ts', class: 'lifetime', round: 4, where: 'iommufd_access_change_ioas', bug: 'the new IOAS’s access-list slot overwrites the old one’s before it is erased (the upstream iopt_access_list_id fix)' },
  { file: 'mm-mode-charges-ipc-lock.ts', class: 'accounting', round: 4, where: 'iopt_map_user_pages', bug: 'a CAP_IPC_LOCK process’s pages are charged to mm->locked_vm in RLIMIT_MODE 1' },
  { file: 'compat-info-stack-leak.ts', class: 'abi-hygiene', round: 4, where: 'iommufd_vfio_iommu_get_info', bug: 'the on-stack info is not zeroed: cap_offset and pad go back as stack contents (the upstream zeroing fix)', closed: 'caught through cap_offset as written; oracle: pad must come back 0 too (a leak of pad alone went unseen)' },
  { file: 'compat-unmap-cuts-in-v2.ts', class: 'confinement', round: 4, where: 'iommufd_vfio_unmap_dma', bug: 'the type1 v1 cut (unmap inside a mapping) is made under TYPE1v2 too', closed: 'oracle: a type1 unmap may cut a mapping only where large pages are off (v1), else ENOENT' },
  { file: 'access-replace-unwind-drops-ioas.ts', class: 'lifetime', round: 4, where: 'iommufd_access_change_ioas', bug: 'a failed ACCESS_REPLACE_IOAS leaves the access with no IOAS instead of its old one', closed: 'generator: a pinning access moved to an IOAS with an area 2 KiB into a page (EADDRINUSE), then a pin on the IOAS it stays on; oracle: an access ENOENT over a range its IOAS maps' },
  { file: 'access-rw-slow-no-foll-write.ts', class: 'confinement', round: 4, where: 'iopt_pages_rw_access (slow path)', bug: 'a slow-path ACCESS_RW write pins without FOLL_WRITE: it writes memory made read-only after it was mapped', open: 'the generator never protects mapped memory read-only before a slow-path access write, and the oracle does not judge writes into memory the process may no longer write' },
];

export const unseenName = (f: UnseenFault): string => f.file.replace(/\.ts$/, '');

/** The module of a fault, as `run --impl` takes it (an absolute path). */
export function unseenPath(f: UnseenFault): string {
  return fileURLToPath(new URL(`./unseen/${f.file}`, import.meta.url));
}
