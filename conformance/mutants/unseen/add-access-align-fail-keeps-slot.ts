/**
 * add-access-align-fail-keeps-slot (drivers/iommu/iommufd/io_pagetable.c
 * iopt_add_access, called by iommufd_access_change_ioas for
 * iommufd_access_attach / iommufd_access_replace: IOMMU_TEST_OP_CREATE_ACCESS,
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, an mdev driver's attach).
 *
 * An access joins an IOAS by taking a slot in its access list and then
 * raising the IOAS's IOVA alignment to its own (PAGE_SIZE for an access
 * that pins pages). The alignment can be refused — an area mapped at a
 * sub-page IOVA, length or user offset while nothing demanded more than
 * byte granularity (-EADDRINUSE) — and then the slot must be given back:
 *
 *     rc = xa_alloc(&iopt->access_list, &new_id, access, xa_limit_16b,
 *                   GFP_KERNEL_ACCOUNT);
 *     if (rc)
 *             goto out_unlock;
 *
 *     rc = iopt_calculate_iova_alignment(iopt);
 *     if (rc) {
 *             xa_erase(&iopt->access_list, new_id);
 *             goto out_unlock;
 *     }
 *     access->iopt_access_list_id = new_id;
 *
 * THE FAULT loses the xa_erase (the error path is written as for the
 * xa_alloc failure just above it: `if (rc) goto out_unlock;`). The attach or
 * replace still fails with EADDRINUSE and the access goes on as before
 * (destroyed by CREATE_ACCESS's unwind, or left in its old IOAS by a failed
 * replace), but the refusing IOAS keeps it in its access list for good.
 *
 * What that breaks, later and on other objects:
 *   - every later iopt_calculate_iova_alignment of that IOAS (an access
 *     joining or leaving, a domain leaving, IOMMU_OPTION HUGE_PAGES) counts
 *     the phantom access's PAGE_SIZE: once the user has unmapped the
 *     byte-granular area and anything recomputes the alignment, the IOAS
 *     demands PAGE_SIZE for ever — IOMMU_IOAS_IOVA_RANGES reports
 *     out_iova_alignment 4096 with no access and no domain there, and a
 *     sub-page IOMMU_IOAS_MAP / IOAS_COPY the IOAS accepted before fails
 *     EINVAL; VFIO_IOMMU_GET_INFO's iova_pgsizes follows it;
 *   - every IOMMU_IOAS_UNMAP of that IOAS that meets an access-pinned area
 *     notifies the phantom too: an access whose replace failed is told to
 *     unpin IOVAs of an IOAS it never joined, and drops its pins at the same
 *     IOVAs of its own IOAS (its items vanish: DESTROY_ACCESS_PAGES answers
 *     ENOENT, pin counts drop) although they are still mapped there; once the
 *     access is destroyed the kernel dereferences freed memory there
 *     (iommufd_lock_obj on the dead access).
 *
 * Applied as: each IOAS's access list (own methods of its xarray stand-in):
 * when a new slot is stored and the alignment the access asks for will be
 * refused (the reference's iopt_calculate_iova_alignment over the list with
 * the new entry: an area misaligned for a larger alignment), the erase
 * that follows — iopt_add_access's unwind — is skipped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptAccess } from '../../../impl/iommufd/iommufd_private.ts';

/** What iopt_calculate_iova_alignment will answer for the list as it is now: false = -EADDRINUSE. */
function alignmentAccepted(iopt: IoPagetable): boolean {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, Number(d.pgsizeBitmap & -d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  if (align <= iopt.iovaAlignment) return true;
  const mask = BigInt(align - 1);
  return !iopt.areas.some((a) => a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('add-access-align-fail-keeps-slot', profile, {
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      const list = iopt.accessList;
      /** The slot iopt_add_access just took, when its alignment is about to be refused. */
      let refused: number | null = null;
      patchOwn(list, 'set', (set) => (id: number, access: IoptAccess) => {
        const had = list.has(id);
        const r = set(id, access);
        refused = !had && !alignmentAccepted(iopt) ? id : null;
        return r;
      });
      patchOwn(list, 'delete', (del) => (id: number) => {
        if (refused === id) {
          // THE FAULT: iopt_add_access's `xa_erase(&iopt->access_list, new_id)` is missing.
          refused = null;
          return true;
        }
        refused = null;
        return del(id);
      });
    },
  });
}
