/**
 * access-create-alignment-ignores-needs-pin (drivers/iommu/iommufd/device.c
 * iommufd_access_create; reached by IOMMU_TEST_OP_CREATE_ACCESS without
 * MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES; 6.12 and 7.3).
 *
 * An access contributes its IOVA alignment to every IOAS it joins
 * (iopt_add_access -> iopt_calculate_iova_alignment). Only a driver that pins
 * pages (it gets whole struct pages back) needs PAGE_SIZE; a driver that only
 * uses iommufd_access_rw() is byte granular and must not constrain the IOAS:
 *
 *         access->data = data;
 *         access->ops = ops;
 *
 *         if (ops->needs_pin_pages)
 *                 access->iova_alignment = PAGE_SIZE;
 *         else
 *                 access->iova_alignment = 1;
 *
 * THE FAULT sets `access->iova_alignment = PAGE_SIZE;` unconditionally (7.3's
 * iommufd_access_create_internal, a few lines above, does exactly that for
 * its page-pinning internal users, and the comment on
 * iommufd_access_pin_pages says "This API always requires a page aligned
 * iova", so the branch looks like dead weight).
 *
 * What goes wrong, only for an access that does not pin (the selftest's
 * CREATE_ACCESS with flags 0; an emulated device that only reads and writes
 * through iommufd_access_rw):
 *   - attaching it (CREATE_ACCESS, ACCESS_REPLACE_IOAS) to an IOAS that holds
 *     an area not aligned to PAGE_SIZE (a 2 KiB-aligned IOVA or length under a
 *     mock domain, or a user address at a 2 KiB page offset in an IOAS with no
 *     domain) fails with EADDRINUSE where the kernel succeeds;
 *   - once attached, the IOAS's alignment is PAGE_SIZE instead of the
 *     domains' (2 KiB mock) or 1: IOMMU_IOAS_IOVA_RANGES reports
 *     out_iova_alignment 4096, and IOMMU_IOAS_MAP / COPY at a fixed IOVA or of
 *     a length, or from a user address, that is 2 KiB but not 4 KiB aligned
 *     answers EINVAL where the kernel maps it.
 * Moving or destroying the access gives the alignment back (recalculated).
 *
 * Applied as: every ACCESS object the context publishes (at finalize, before
 * iommufd_access_attach) gets iova_alignment PAGE_SIZE whatever its ops.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-create-alignment-ignores-needs-pin', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      Object.defineProperty(obj, 'iovaAlignment', { value: PAGE_SIZE, writable: false, configurable: true, enumerable: true });
    },
  });
}
