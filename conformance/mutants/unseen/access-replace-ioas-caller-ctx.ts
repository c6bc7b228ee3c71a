/**
 * access-replace-ioas-caller-ctx (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_replace_ioas → drivers/iommu/iommufd/device.c
 * iommufd_access_replace / iommufd_access_change_ioas_id,
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS; 6.12 and 7.3).
 *
 * The selftest's access is reached through its own file descriptor (the
 * out_access_fd of IOMMU_TEST_OP_CREATE_ACCESS, fget() by
 * iommufd_access_get), not through an object id, so the IOMMU_TEST_CMD that
 * drives it may arrive on any iommufd file of the process. The access
 * belongs to the context it was created in, and an IOAS id only means
 * something there; the kernel resolves the new IOAS in the access's own
 * context:
 *
 *     static int iommufd_access_change_ioas_id(struct iommufd_access *access, u32 id)
 *     {
 *             struct iommufd_ioas *ioas = iommufd_get_ioas(access->ictx, id);
 *             ...
 *             rc = iommufd_access_change_ioas(access, ioas);
 *
 *     int iommufd_access_replace(struct iommufd_access *access, u32 ioas_id)
 *     {
 *             ...
 *             if (!access->ioas)
 *                     return -ENOENT;
 *             rc = iommufd_access_change_ioas_id(access, ioas_id);
 *
 * THE FAULT: when 7.3 made accesses without a context (internal accesses,
 * access->ictx == NULL) the lookup was given its context by the caller
 * (`iommufd_access_change_ioas_id(ictx, access, id)`), and the selftest's
 * replace passes the context of the ioctl, as its CREATE_ACCESS does:
 *
 *     rc = iommufd_access_replace(ucmd->ictx, staccess->access, ioas_id);
 *
 * Issued on the access's own iommufd it is the same context and nothing
 * changes. Issued on another iommufd file of the process (two /dev/iommu
 * opens, or a /dev/vfio/vfio container next to one), the id is looked up
 * in the wrong table: ENOENT where the access's context has that IOAS, or —
 * ids start at 1 in every context — some other context's IOAS that happens
 * to carry the number, which the access then joins.
 *
 * Consequence, across two contexts: an access of context A sits in
 * context B's IOAS. IOMMU_TEST_OP_ACCESS_RW / ACCESS_PAGES through it read,
 * write and pin B's memory at B's IOVAs, and the same id in A (the IOAS the
 * user asked for) is left: DESTROY of A's old IOAS succeeds where the
 * kernel answers EBUSY, while B's IOAS is held by an object B cannot see —
 * IOMMU_DESTROY of it answers EBUSY for ever, and closing B's file cannot
 * destroy it (iommufd_fops_release WARNs and frees the context with the
 * IOAS still referenced; the access later drops its reference into freed
 * memory). Nothing is left pinned once the access is closed, so no charge
 * is visibly lost.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS answered by a copy of
 * iommufd_test_access_replace_ioas that looks the IOAS up in the ioctl's
 * context (ucmd->ictx) and hands it to the reference's
 * iommufd_access_change_ioas.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IommufdCtx, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdAccessChangeIoas, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { accessGet } from './_access_pages.ts';

/** iommufd_access_change_ioas_id with THE FAULT's signature: the id is looked up in `ictx`. */
function changeIoasId(ictx: IommufdCtx, access: IommufdAccess, id: number): number {
  const r = iommufdGetIoas(ictx, id);
  if (r.errno) return r.errno;
  return iommufdAccessChangeIoas(access, r.value!);
}

/** iommufd_access_replace(ictx, access, ioas_id) */
function accessReplace(ictx: IommufdCtx, access: IommufdAccess, ioasId: number): number {
  if (!access.ioas) return -ENOENT;
  return changeIoasId(ictx, access, ioasId);
}

/** iommufd_test_access_replace_ioas with THE FAULT: ucmd->ictx, not the access's context. */
function testAccessReplaceIoas(ucmd: Ucmd): number {
  const g = accessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  try {
    return accessReplace(ucmd.ctx, g.staccess!.access!, ucmd.cmd.num('access_replace_ioas.ioas_id'));
  } finally {
    g.file!.put();
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-ioas-caller-ctx', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS ? testAccessReplaceIoas(ucmd) : original(ucmd)),
    },
  });
}
