/**
 * auto-domain-reuse-keeps-ioas-id (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * Attaching (or replacing) a device to an IOAS picks an automatic HWPT: the
 * first auto HWPT on ioas->hwpt_list the device can attach to, else a new
 * one. Either way the HWPT id goes back to the caller through *pt_id, which
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT copies to userspace (and the selftest's
 * MOCK_DOMAIN / MOCK_DOMAIN_REPLACE report):
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             ...
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt)) { ... continue / goto out_unlock; }
 *             *pt_id = hwpt->obj.id;
 *             iommufd_put_object(idev->ictx, &hwpt->obj);
 *             goto out_unlock;
 *     }
 *     hwpt_paging = iommufd_hwpt_paging_alloc(...);
 *     ...
 *     *pt_id = hwpt->obj.id;
 * The fault loses the `*pt_id = hwpt->obj.id` of the reuse branch (only the
 * allocation branch sets it): when the device joins an existing auto HWPT,
 * the attach succeeds but pt_id still holds what the user passed in — the
 * IOAS id.
 *
 * Consequence for a user: the out value of a successful attach names the
 * IOAS, not the HWPT the device is attached to. A VMM that keeps it (to
 * destroy the HWPT, allocate a nested HWPT on it, enable dirty tracking,
 * or read it back as the device's page table) acts on the wrong object;
 * the same attach reports a HWPT id for the first device of an IOAS and the
 * IOAS id for the next ones.
 *
 * Applied as: around VFIO_DEVICE_ATTACH_IOMMUFD_PT and IOMMU_TEST_CMD's
 * MOCK_DOMAIN(_FLAGS) / MOCK_DOMAIN_REPLACE, when pt_id named an IOAS and
 * the successful attach landed on an auto HWPT that was already on the
 * IOAS's list, the answer carries the IOAS id again (the copy-back then
 * writes what *pt_id held).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

/** The ids of the auto HWPTs on the IOAS `id` names in ctx, or null when `id` is not an IOAS. */
function autoHwptsOf(ctx: IommufdCtx | undefined, id: number): Set<number> | null {
  const obj = ctx?.objects.load(id);
  if (!obj || obj.type !== 'IOAS') return null;
  return new Set((obj as IommufdIoas).hwptList.filter((h) => h.autoDomain).map((h) => h.id));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-domain-reuse-keeps-ioas-id', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const inId = s.num('pt_id');
      const before = autoHwptsOf(df.device.iommufdDevice?.ictx, inId);
      const rc = original();
      if (rc !== 0 || before === null) return rc;
      const at = arg + BigInt(s.offsetOf('pt_id'));
      const out = df.proc.copyFromUser(at, 4);
      if (!out) return rc;
      const outId = new DataView(out.buffer, out.byteOffset, 4).getUint32(0, true);
      if (!before.has(outId)) return rc; // a new auto HWPT: that branch sets *pt_id
      // THE FAULT: the reuse branch left *pt_id as the IOAS id; vfio copies it back.
      s.set('pt_id', inId);
      df.proc.copyToUser(at, s.fieldBytes('pt_id'));
      return rc;
    },
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        const field =
          op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS
            ? { in: 'id', out: 'mock_domain.out_hwpt_id' }
            : op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE
              ? { in: 'mock_domain_replace.pt_id', out: 'mock_domain_replace.pt_id' }
              : null;
        if (!field) return original(ucmd);
        const inId = ucmd.cmd.num(field.in);
        const before = autoHwptsOf(ucmd.ctx, inId);
        const rc = original(ucmd);
        if (rc !== 0 || before === null || !before.has(ucmd.cmd.num(field.out))) return rc;
        // THE FAULT: *pt_id still holds the IOAS id when the selftest copies it out.
        ucmd.cmd.set(field.out, inId);
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
