/**
 * C9 — auto-domain-takes-user-hwpt (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * Attaching a device to an IOAS (pt_id = an IOAS id) reuses an existing
 * automatic HWPT of that IOAS if one accepts the device, and skips the HWPTs
 * userspace allocated itself with IOMMU_HWPT_ALLOC:
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 * The fault drops that test ("any domain that is willing to attach to the
 * device is interchangeable with any other", as the comment above the loop
 * says). A device attached by IOAS id (VFIO_DEVICE_ATTACH_IOMMUFD_PT, the
 * selftest's MOCK_DOMAIN / MOCK_DOMAIN_REPLACE) is silently attached to a
 * HWPT the user allocated for another device and configured for it (NEST_PARENT,
 * DIRTY_TRACKING, a fault queue, later a vIOMMU or nested domains built on
 * it), and pt_id reports that HWPT's id. The user's HWPT now carries an
 * attachment its owner never made: the other device's DMA goes through the
 * domain the user's nested/dirty-tracking/invalidation state is about,
 * IOMMU_DESTROY of the user's HWPT is EBUSY while that device stays, and
 * when the device detaches no automatic domain is destroyed with it.
 *
 * Applied as: while one of those attaches runs, the user-allocated paging
 * HWPTs of the context are treated as automatic by the reference's
 * iommufd_device_auto_get_domain; a users reference taken around the call
 * keeps a put of such a HWPT during the call (the old HWPT a replace puts,
 * or the attach's own unwind) a plain refcount drop, as the faulty kernel's
 * iommufd_hw_pagetable_put is for a non-automatic HWPT.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import type { IommufdCtx, IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

function withUserHwptsAsAuto<T>(ctx: IommufdCtx | undefined, fn: () => T): T {
  if (!ctx) return fn();
  const flagged: IommufdHwptPaging[] = [];
  for (const [, obj] of ctx.objects.entries()) {
    if (obj.type !== 'HWPT_PAGING') continue;
    const hwpt = obj as IommufdHwptPaging;
    if (hwpt.autoDomain) continue;
    hwpt.autoDomain = true;
    hwpt.users++;
    flagged.push(hwpt);
  }
  try {
    return fn();
  } finally {
    for (const hwpt of flagged) {
      hwpt.autoDomain = false;
      hwpt.users--;
    }
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-domain-takes-user-hwpt', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      return withUserHwptsAsAuto(df.iommufd?.ctx, original);
    },
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS || op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) {
          return withUserHwptsAsAuto(ucmd.ctx, () => original(ucmd));
        }
        return original(ucmd);
      },
    },
  });
}
