/**
 * R27-C4 — auto-domain-reuse-keeps-ioas-pt-id (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain; 6.12 and 7.3 alike).
 *
 * Attaching (or replacing) a device by IOAS id makes the kernel choose the
 * HWPT: an existing automatic HWPT of that IOAS that accepts the device, or a
 * new one. Either way pt_id is in/out: the IOAS id goes in, the id of the
 * HWPT the device now translates through comes out (VFIO_DEVICE_ATTACH_IOMMUFD_PT's
 * pt_id, IOMMU_TEST_OP_MOCK_DOMAIN's out_hwpt_id, MOCK_DOMAIN_REPLACE's pt_id).
 * The kernel (7.3; 6.12 the same without pasid) sets it on both branches:
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 *
 *             hwpt = &hwpt_paging->common;
 *             if (!iommufd_lock_obj(&hwpt->obj))
 *                     continue;
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt)) {
 *                     ...
 *             }
 *             *pt_id = hwpt->obj.id;
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             goto out_unlock;
 *     }
 *
 *     hwpt_paging = iommufd_hwpt_paging_alloc(...);
 *     ...
 *     hwpt_paging->auto_domain = true;
 *     *pt_id = hwpt->obj.id;
 *
 * THE FAULT: the assignment in the loop is lost (say, when the search was
 * reworked to share the tail with the allocation branch, only the tail kept
 * it): a device that joins an automatic HWPT that already exists succeeds,
 * correctly attached, but pt_id comes back unchanged — the IOAS id it was
 * given.
 *
 * The first device attached to an IOAS gets a new automatic HWPT and its id,
 * as in the kernel. Every later one that shares it — a second device (another
 * group behind a compatible IOMMU, every further selftest mock device on the
 * IOAS), a device re-attached after its sibling kept the HWPT alive, a replace
 * by IOAS id onto the HWPT the group already uses or onto another group's —
 * is told "IOAS id" where the kernel says "HWPT id".
 *
 * What goes wrong, over several commands and two objects: the caller records
 * the IOAS as the device's HWPT. Everything it later does with "the HWPT" acts
 * on the IOAS: IOMMU_DESTROY of it is refused for a reason that has nothing to
 * do with the HWPT (or, once the IOAS is free, destroys the IOAS instead of
 * answering that the HWPT is gone), attaching another device "to that HWPT"
 * runs a new automatic search, IOMMU_HWPT_ALLOC of a nested HWPT on it, the
 * dirty-tracking ioctls, IOMMU_TEST_OP_MD_CHECK_MAP answer as for an IOAS,
 * and a VMM that compares HWPT ids to learn whether two devices share a
 * domain concludes they do not. The kernel's selftests (mock_domain ...
 * self->hwpt_id) take exactly that output as the HWPT.
 *
 * Applied as: after the reference serves VFIO_DEVICE_ATTACH_IOMMUFD_PT,
 * IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) or _REPLACE successfully by an IOAS id and
 * the HWPT it chose already existed before the command (the search's reuse
 * branch), the pt_id handed back is the IOAS id it was given (the same bytes
 * the kernel's copy-back would have written; a copy-back that faults is the
 * reference's either way).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

/** The finalized HWPT ids of the context (the automatic HWPTs a search may reuse are among them). */
function hwptIds(ctx: IommufdCtx): Set<number> {
  return new Set(ctx.objects.entries().filter(([, o]) => o.type === 'HWPT_PAGING' || o.type === 'HWPT_NESTED').map(([id]) => id));
}

/** Whether `id` names an IOAS of the context (the auto-domain branch of iommufd_device_change_pt). */
function isIoas(ctx: IommufdCtx, id: number): boolean {
  return ctx.objects.load(id)?.type === 'IOAS';
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-domain-reuse-keeps-ioas-pt-id', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const op = cmd.num('op');
        const field =
          op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? 'mock_domain.out_hwpt_id' : op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? 'mock_domain_replace.pt_id' : null;
        if (!field) return original(ucmd);
        const ptIn = op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? cmd.num('mock_domain_replace.pt_id') : cmd.num('id');
        const byIoas = isIoas(ctx, ptIn);
        const before = hwptIds(ctx);
        const rc = original(ucmd);
        if (rc || !byIoas || !before.has(cmd.num(field))) return rc;
        // THE FAULT: the reuse branch of iommufd_device_auto_get_domain left *pt_id as it came in.
        cmd.set(field, ptIn);
        return iommufdUcmdRespond(ucmd);
      },
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const idev = df.device.iommufdDevice;
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!idev || !d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const ctx = idev.ictx;
      const attach = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const ptIn = attach.num('pt_id');
      const byIoas = isIoas(ctx, ptIn);
      const before = hwptIds(ctx);
      const rc = original();
      if (rc || !byIoas) return rc;
      // What the reference wrote back: the HWPT the device is in now.
      const out = df.proc.copyFromUser(arg + BigInt(attach.offsetOf('pt_id')), 4);
      if (!out) return rc;
      const ptOut = new DataView(out.buffer, out.byteOffset, 4).getUint32(0, true);
      if (!before.has(ptOut)) return rc;
      // THE FAULT: the reuse branch left pt_id = the IOAS id; that is what vfio_df_ioctl_attach_pt copies back.
      attach.set('pt_id', ptIn);
      df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'));
      return rc;
    },
  });
}
