/**
 * change-pt-hwpt-fail-skips-put (drivers/iommu/iommufd/device.c,
 * iommufd_device_change_pt).
 *
 * Attach and replace (VFIO_DEVICE_ATTACH_IOMMUFD_PT, IOMMU_TEST_OP_MOCK_DOMAIN
 * and _MOCK_DOMAIN_REPLACE) look the pt_id up with iommufd_get_object(), which
 * takes a users and a shortterm_users reference on it, and give that
 * reference back on every way out:
 *     pt_obj = iommufd_get_object(idev->ictx, *pt_id, IOMMUFD_OBJ_ANY);
 *     switch (pt_obj->type) {
 *     case IOMMUFD_OBJ_HWPT_NESTED:
 *     case IOMMUFD_OBJ_HWPT_PAGING: {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_put_pt_obj;
 *             break;
 *     }
 *     ...
 * out_put_pt_obj:
 *     iommufd_put_object(idev->ictx, pt_obj);
 *     return PTR_ERR(destroy_hwpt);
 * The fault returns straight from the HWPT case when the attach/replace
 * fails (`return PTR_ERR(destroy_hwpt);`), skipping the put. Success paths
 * and the IOAS (automatic domain) case are unchanged.
 *
 * So every failed attach or replace onto an explicitly named HWPT — the group
 * already on another HWPT, a reserved region of the device colliding with a
 * mapping, a domain of another IOMMU driver, an allocation failing — leaves
 * the HWPT one users reference higher. Nothing shows at once. Later:
 * IOMMU_DESTROY of the HWPT answers EBUSY forever; an automatic HWPT no
 * longer goes away with its last device; and at close iommufd_fops_release
 * cannot destroy the HWPT (WARN), so its iommu_domain stays linked to its
 * IOAS (which cannot be destroyed either) and every page mapped in that IOAS
 * stays pinned and charged to the user's RLIMIT_MEMLOCK after the process
 * has closed everything.
 *
 * Applied as: the reference's answer, plus the leaked users reference on the
 * HWPT when the attach/replace onto it failed past the lookup (the
 * iommufd_get_object itself failing, ENOENT, leaks nothing). MOCK_DOMAIN is a
 * copy of iommufd_test_mock_domain so that a failure before the attach (mock
 * device, bind) is told apart.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, ENOENT } from '../../../impl/lib/errno.ts';
import {
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
} from '../../../spec/uapi/constants.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdDeviceAttach } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler, type SelftestObj } from './_mock_domain.ts';

/**
 * After a failed attach/replace through iommufd_device_change_pt: if pt_id
 * named a paging HWPT and the failure came after the lookup, the lookup's
 * reference is never put back.
 */
function leakOnHwptFailure(ctx: IommufdCtx, pt: IommufdObject | undefined, ptId: number, rc: number): void {
  if (!rc || rc === -ENOENT || rc === -EFAULT) return;
  if (!pt || pt.type !== 'HWPT_PAGING' || ctx.objects.load(ptId) !== pt) return;
  pt.users++; // THE FAULT: out_put_pt_obj skipped
}

/** iommufd_test_mock_domain (selftest.c), through the faulty change_pt. */
const testMockDomain = mockDomainHandler({
  attach: (idev, ptId) => {
    const id = ptId.value;
    const pt = idev.ictx.objects.load(id);
    const rc = iommufdDeviceAttach(idev, ptId);
    if (rc) leakOnHwptFailure(idev.ictx, pt, id, rc);
    return rc;
  },
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('change-pt-hwpt-fail-skips-put', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return testMockDomain(ucmd);
        if (op !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        // iommufd_test_mock_domain_replace: the selftest object, then iommufd_device_replace.
        const { ctx } = ucmd;
        const sobj = ctx.objects.load(ucmd.cmd.num('id'));
        const ptId = ucmd.cmd.num('mock_domain_replace.pt_id');
        const pt = ctx.objects.load(ptId);
        const rc = original(ucmd);
        if (sobj?.type === 'SELFTEST' && (sobj as SelftestObj).idev) leakOnHwptFailure(ctx, pt, ptId, rc);
        return rc;
      },
    },
    // VFIO_DEVICE_ATTACH_IOMMUFD_PT → vfio_iommufd_physical_attach_ioas → iommufd_device_attach / _replace.
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      // Any flag is refused before the attach (6.12: EINVAL; 7.3: EINVAL, or EOPNOTSUPP for
      // VFIO_DEVICE_ATTACH_PASID, which the simulated driver does not serve): the reference answers.
      if (attach.num('flags') !== 0) return original();
      const idev = df.device.iommufdDevice;
      if (!idev) return original();
      const ptId = attach.num('pt_id');
      const pt = idev.ictx.objects.load(ptId);
      const rc = original();
      leakOnHwptFailure(idev.ictx, pt, ptId, rc);
      return rc;
    },
  });
}
