/**
 * access-change-fail-keeps-ioas-ref (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas_id, the lookup half of iommufd_access_attach and
 * iommufd_access_replace; reached by IOMMU_TEST_OP_CREATE_ACCESS and
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     static int iommufd_access_change_ioas_id(struct iommufd_access *access, u32 id)
 *     {
 *             struct iommufd_ioas *ioas = iommufd_get_ioas(access->ictx, id);
 *             int rc;
 *
 *             if (IS_ERR(ioas))
 *                     return PTR_ERR(ioas);
 *             rc = iommufd_access_change_ioas(access, ioas);
 *             iommufd_put_object(access->ictx, &ioas->obj);
 *             return rc;
 *     }
 *
 * iommufd_get_ioas takes a short-term users reference on the IOAS
 * (iommufd_lock_obj: refcount_inc_not_zero(&obj->users) and
 * shortterm_users / wait_cnt) that iommufd_put_object gives back whatever
 * iommufd_access_change_ioas answered; when the change succeeds, the access's
 * long-lived reference is the separate refcount_inc(&new_ioas->obj.users)
 * inside iommufd_access_change_ioas.
 *
 * The fault: the function is written in the common "bail out on error" shape,
 *
 *             rc = iommufd_access_change_ioas(access, ioas);
 *             if (rc)
 *                     return rc;
 *             iommufd_put_object(access->ictx, &ioas->obj);
 *             return 0;
 *
 * so a failed attach or replace leaks the lookup's reference on the IOAS it
 * tried to join. iommufd_access_change_ioas fails after the lookup when the
 * access cannot join the new IOAS: iopt_add_access's alignment check (a
 * pinning access needs PAGE_SIZE; an IOAS without a domain, or with the 6.12
 * mock's 2 KiB pages, may hold sub-page areas: EADDRINUSE), its xa_alloc
 * (ENOMEM), or a full access list (EBUSY). The answer is the kernel's; what
 * changes is the other object: that IOAS (which the access never joined)
 * is now held for ever. IOMMU_DESTROY of it is EBUSY where the kernel
 * destroys it, and closing the iommufd cannot free it either
 * (iommufd_fops_release finds it with users 2, WARNs and stops), so
 * everything it maps stays pinned and charged, and the devices attached to
 * its HWPTs stay attached and owned, after the last fd is closed.
 *
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs the shared copy of
 * iommufd_test_create_access (_create_access.ts) whose iommufd_access_attach goes through the
 * faulty iommufd_access_change_ioas_id, and IOMMU_TEST_OP_ACCESS_REPLACE_IOAS
 * a copy of iommufd_test_access_replace_ioas → iommufd_access_replace over
 * it (the leaked short-term reference modelled as a users reference); every
 * other op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdAccessChangeIoas, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessReplaceIoasWith } from './_access_change.ts';
import { createAccessWith } from './_create_access.ts';

/** iommufd_access_change_ioas as iommufd_access_change_ioas_id calls it, with the short-term reference leaked on failure. */
function changeIoasLeaking(access: IommufdAccess, ioas: IommufdIoas | null): number {
  const rc = iommufdAccessChangeIoas(access, ioas);
  // THE FAULT: `if (rc) return rc;` before iommufd_put_object: the lookup's users reference stays.
  if (rc && ioas) refcount_inc(ioas);
  return rc;
}

/** iommufd_access_attach → the faulty iommufd_access_change_ioas_id. */
function accessAttach(access: IommufdAccess, ioasId: number): number {
  if (access.ioas) return -EINVAL; // WARN_ON(access->ioas)
  const r = iommufdGetIoas(access.ctx, ioasId);
  if (r.errno) return r.errno;
  return changeIoasLeaking(access, r.value!);
}

export function createAdapter(profile: Profile): Implementation {
  const replaceIoas = accessReplaceIoasWith(changeIoasLeaking);
  const createAccess = createAccessWith({ attach: accessAttach });
  return mutantImplementation('access-change-fail-keeps-ioas-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_CREATE_ACCESS) return createAccess(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return replaceIoas(ucmd, original);
        return original(ucmd);
      },
    },
  });
}
