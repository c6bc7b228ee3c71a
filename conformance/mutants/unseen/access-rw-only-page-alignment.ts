/**
 * access-rw-only-page-alignment (drivers/iommu/iommufd/device.c
 * iommufd_access_create / __iommufd_access_create, reached by
 * IOMMU_TEST_OP_CREATE_ACCESS; seen through the IOAS the access is attached
 * to: io_pagetable.c iopt_add_access → iopt_calculate_iova_alignment;
 * 6.12 and 7.3).
 *
 * An access constrains the IOVA alignment of its IOAS only if it will pin
 * pages: iommufd_access_pin_pages hands out whole struct pages, so every
 * area must start on a page boundary, but iommufd_access_rw copies bytes and
 * works at any alignment. The kernel says so when it creates the access:
 *
 *     static struct iommufd_access *__iommufd_access_create(struct iommufd_ctx *ictx)
 *     {
 *             ...
 *             refcount_inc(&access->obj.users);
 *             mutex_init(&access->ioas_lock);
 *             return access;
 *     }
 *
 *     struct iommufd_access *iommufd_access_create_internal(struct iommufd_ctx *ictx)
 *     {
 *             access = __iommufd_access_create(ictx);
 *             ...
 *             access->iova_alignment = PAGE_SIZE;
 *
 *     struct iommufd_access *iommufd_access_create(...)
 *     {
 *             access = __iommufd_access_create(ictx);
 *             ...
 *             if (ops->needs_pin_pages)
 *                     access->iova_alignment = PAGE_SIZE;
 *             else
 *                     access->iova_alignment = 1;
 *
 * (6.12 has the if/else alone, in iommufd_access_create.)
 *
 * THE FAULT is the refactor that moved the internal access's
 * `access->iova_alignment = PAGE_SIZE` into the common
 * __iommufd_access_create as the default, and trimmed the now "redundant"
 * tail of iommufd_access_create to `if (ops->needs_pin_pages)
 * access->iova_alignment = PAGE_SIZE;` — the else branch that lowered it for
 * a copy-only access went with it. Every access now demands PAGE_SIZE.
 *
 * Nothing changes for the access itself (a copy-only access cannot pin:
 * IOMMU_TEST_OP_ACCESS_PAGES is EOPNOTSUPP either way). The harm is in the
 * IOAS it joins, across commands and two objects:
 *   - attached to an IOAS with no domain (alignment 1, the only kind of
 *     IOAS a byte-granular emulated device needs), it raises the IOAS's
 *     iova_alignment to PAGE_SIZE: IOMMU_IOAS_IOVA_RANGES reports
 *     out_iova_alignment 4096 instead of 1, and every later IOMMU_IOAS_MAP /
 *     IOMMU_IOAS_COPY whose IOVA, length or user-VA page offset is not page
 *     aligned fails EINVAL — for as long as the access stays, and for every
 *     user of the IOAS, not just the access;
 *   - created (or moved by IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) onto an IOAS
 *     that already holds a sub-page mapping, iopt_calculate_iova_alignment
 *     refuses it: CREATE_ACCESS / ACCESS_REPLACE_IOAS fail EADDRINUSE where
 *     the kernel attaches.
 * When the access goes, the alignment drops back: the IOAS ends the case in
 * the state the kernel would leave it.
 *
 * Applied as: an access object created for ops without needs_pin_pages gets
 * iova_alignment PAGE_SIZE (set when the object is published, before the
 * attach joins it to the IOAS).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { PAGE_SIZE } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-only-page-alignment', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      // THE FAULT: the default PAGE_SIZE of __iommufd_access_create is never lowered for a copy-only access.
      if (!access.ops.needsPinPages) patchOwn(access, 'iovaAlignment', () => PAGE_SIZE);
    },
  });
}
