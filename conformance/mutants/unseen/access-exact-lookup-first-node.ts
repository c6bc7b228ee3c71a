/**
 * access-exact-lookup-first-node (drivers/iommu/iommufd/pages.c
 * iopt_pages_get_exact_access, used by iopt_area_add_access and
 * iopt_area_remove_access, i.e. by every iommufd_access_pin_pages /
 * iommufd_access_unpin_pages: IOMMU_TEST_OP_ACCESS_PAGES,
 * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, an access's unmap callback, closing
 * the access).
 *
 * Every in-kernel pin of an iopt_pages is an iopt_pages_access node in
 * pages->access_itree, one per exact [start_index, last_index] range, with a
 * users count for repeated pins of that very range. Ranges of different pins
 * overlap freely, so the lookup must walk every node that intersects the
 * range until it finds the exact one:
 *
 *     (comment in the source: There can be overlapping ranges in this interval tree)
 *     for (node = interval_tree_iter_first(&pages->access_itree, index, last);
 *          node; node = interval_tree_iter_next(node, index, last))
 *             if (node->start == index && node->last == last)
 *                     return container_of(node, struct iopt_pages_access, node);
 *     return NULL;
 *
 * THE FAULT looks at the first intersecting node only (the loop collapsed
 * into a lookup, as if ranges never overlapped):
 *
 *     node = interval_tree_iter_first(&pages->access_itree, index, last);
 *     if (node && node->start == index && node->last == last)
 *             return container_of(node, struct iopt_pages_access, node);
 *     return NULL;
 *
 * interval_tree_iter_first returns the intersecting node with the lowest
 * start (of equal starts, the one inserted first). When that node is another
 * pin's range:
 *   - iopt_area_add_access makes a second node for a range that already has
 *     one (harmless: the pages are pinned once, the users split);
 *   - iopt_area_remove_access finds nothing, WARNs and returns: the node, its
 *     pins, and the area's num_accesses stay.
 *
 * Why it needs several commands and two objects: one pin alone (or pins of
 * disjoint ranges) works. It takes a first pin (an access item, or another
 * access of the same IOAS, or an access of another IOAS pinning the same
 * pages after IOMMU_IOAS_COPY) whose range starts at or before a second,
 * overlapping pin, and then the release of the second one while the first
 * is still there: e.g. ACCESS_PAGES of [iova, 4 pages), ACCESS_PAGES of
 * [iova, 1 page) or [iova + 4K, 1 page), DESTROY_ACCESS_PAGES of the second.
 *
 * Consequence for a user: the second pin is never released. Its pages stay
 * pinned and charged (pin counts, VmPin, RLIMIT_MEMLOCK) after the first pin,
 * the access, the IOAS and every file are gone; the area's num_accesses
 * never returns to 0, so every IOMMU_IOAS_UNMAP covering it notifies the
 * access (which has nothing left to unpin) a hundred times and fails with
 * EDEADLOCK, leaving the mapping (and every domain's translation of it) in
 * place after the user asked to remove it.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES and DESTROY_ACCESS_PAGES, the
 * access's unmap callback and the release of its file (accessUnpinHooks in
 * _access_pages.ts) go through iommufd_access_pin_pages /
 * iommufd_access_unpin_pages (accessPinPagesWith, accessUnpinPagesWith there)
 * whose iopt_area_add_access / iopt_area_remove_access use the faulty lookup
 * (the reference's own steps where the lookup agrees).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM, EPERM } from '../../../impl/lib/errno.ts';
import type { IoptArea, IoptPages, IoptPagesAccess } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess, ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

/** THE FAULT: iopt_pages_get_exact_access judging only interval_tree_iter_first's node. */
function getExactAccess(pages: IoptPages, start: number, last: number): IoptPagesAccess | undefined {
  // In-order first intersecting node: lowest start; of equal starts the earliest inserted
  // (pages.accesses keeps insertion order, and the sort is stable).
  const first = pages.accesses
    .filter((a) => a.start <= last && a.last >= start)
    .sort((a, b) => a.start - b.start)[0];
  return first && first.start === start && first.last === last ? first : undefined;
}

/** iopt_area_add_access with the faulty lookup. */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  // A node the faulty lookup finds is the one the reference's finds too (its earliest exact range).
  if (getExactAccess(pages, start, last)) return ioptAreaAddAccess(area, start, last, write);
  // Not found (even if an exact node exists further on): a new node, as for a new range.
  if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)
  const held = ioptPagesHold(pages, start, last); // iopt_pages_fill_xarray
  if (held.errno) return held;
  pages.accesses.push({ start, last, users: 1 });
  area.numAccesses++;
  return ok(held.value!);
}

/** iopt_area_remove_access with the faulty lookup: WARN_ON(!access) and return. */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  if (!getExactAccess(area.pages!, start, last)) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access): no exact access range [${start}, ${last}] first in the interval tree`);
    return;
  }
  ioptAreaRemoveAccess(area, start, last);
}

/** iommufd_access_pin_pages over the faulty add/remove (err_remove included). */
const accessPinPages = accessPinPagesWith({ addAccess: areaAddAccess, removeAccess: areaRemoveAccess });

/** iommufd_access_unpin_pages over the faulty remove. */
const accessUnpinPages = accessUnpinPagesWith(areaRemoveAccess);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-exact-lookup-first-node', profile, {
    ...accessUnpinHooks({ pinPages: accessPinPages, unpinPages: accessUnpinPages }),
  });
}
