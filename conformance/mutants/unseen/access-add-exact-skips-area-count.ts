/**
 * access-add-exact-skips-area-count (drivers/iommu/iommufd/pages.c
 * iopt_area_add_access, 6.12 and 7.3).
 *
 * An in-kernel access pins [start_index, last_index] of an area's iopt_pages.
 * Pins of one exact index range share one struct iopt_pages_access node of
 * the pages (access->users counts them), while the area counts every pin made
 * through it in area->num_accesses, which is what iopt_unmap_iova_range()
 * tests to decide whether the accesses must be told to unpin before the area
 * goes. The kernel bumps both counters on both paths:
 *
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     if (access) {
 *             area->num_accesses++;
 *             access->users++;
 *             iopt_pages_fill_from_xarray(pages, start_index, last_index,
 *                                         out_pages);
 *             mutex_unlock(&pages->mutex);
 *             return 0;
 *     }
 *     ...
 *     access->users = 1;
 *     area->num_accesses++;
 *     interval_tree_insert(&access->node, &pages->access_itree);
 *
 * The fault drops `area->num_accesses++` from the exact-match shortcut, as if
 * the shortcut only had to take another reference on an existing pin (the
 * pages are already in the xarray, nothing new is pinned), forgetting that
 * the per-area count is a separate counter from the per-pages node's users.
 *
 * Nothing changes for a single pin. It shows only when a second pin meets an
 * existing node of the same index range: the same access pinning the same
 * IOVA range twice, two accesses of one IOAS pinning the same range, or an
 * access on another IOAS pinning through an area IOMMU_IOAS_COPY made from
 * the first one (same iopt_pages). Then the area counts one pin too few:
 *   - after one of the two pins is given back (DESTROY_ACCESS_PAGES), the
 *     area's num_accesses is 0 while the other pin is alive: IOMMU_IOAS_UNMAP
 *     removes the area without telling the access. The access keeps an item
 *     for IOVA that is no longer mapped, the pages stay pinned (and charged)
 *     after the area and its iopt_pages are gone (iopt_release_pages WARNs),
 *     and they stay pinned after every fd is closed; giving the item back
 *     later (DESTROY_ACCESS_PAGES succeeds where the kernel says ENOENT,
 *     closing the access) unpins nothing;
 *   - after both pins are given back, num_accesses-- wraps the unsigned
 *     counter (WARN_ON(area->num_accesses == 0) in iopt_area_remove_access):
 *     every later unmap of the area notifies 100 times and fails EDEADLOCK,
 *     leaving the area prevent_access (pins and ACCESS_RW through it EINVAL),
 *     in that IOAS only, while the other IOAS's copy of it unmaps normally.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES pins through iopt_area_add_access
 * without that increment; every unpin of the selftest access (item destroy,
 * unmap notification, file release) runs the kernel's
 * iommufd_access_unpin_pages / iopt_area_remove_access, which WARN and go on
 * where the reference asserts (a range with no node, a zero count wrapping).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM, ENOMEM } from '../../../impl/lib/errno.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

/** unsigned int area->num_accesses after `--` from 0. */
const UINT_MAX = 0xffffffff;

/** iopt_area_add_access with the fault: the exact-match shortcut does not count the pin on the area. */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  if (exact) {
    // THE FAULT: no area->num_accesses++ here.
    exact.users++;
    const pfns: number[] = [];
    for (let i = start; i <= last; i++) pfns.push(pages.pinnedPfn(i)!);
    return ok(pfns);
  }
  if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)
  const held = ioptPagesHold(pages, start, last);
  if (held.errno) return held;
  pages.accesses.push({ start, last, users: 1 });
  area.numAccesses++;
  return ok(held.value!);
}

/** iopt_area_remove_access as the kernel writes it: WARNs, and an unsigned num_accesses. */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  const pages = area.pages!;
  const node = pages.accesses.find((a) => a.start === start && a.last === last);
  if (!node) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access) for [${start}, ${last}]`);
    return;
  }
  if (area.numAccesses === 0 || node.users === 0) access.ctx.warnings.push('iopt_area_remove_access: WARN_ON(area->num_accesses == 0 || access->users == 0)');
  area.numAccesses = area.numAccesses === 0 ? UINT_MAX : area.numAccesses - 1;
  node.users--;
  if (node.users) return;
  pages.accesses.splice(pages.accesses.indexOf(node), 1);
  ioptPagesRelease(pages, start, last);
}

export function createAdapter(profile: Profile): Implementation {
  const hooks = accessUnpinHooks({
    pinPages: accessPinPagesWith({ addAccess: areaAddAccess, removeAccess: areaRemoveAccess }),
    unpinPages: accessUnpinPagesWith(areaRemoveAccess),
  });
  return mutantImplementation('access-add-exact-skips-area-count', profile, hooks);
}
