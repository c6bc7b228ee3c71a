/**
 * Round 6a fault (HWPT lifetime, replace through an IOAS):
 * iommufd_device_auto_get_domain (drivers/iommu/iommufd/device.c) loses the
 * HWPT the replace displaced. Its success exits return NULL instead of the
 * do_attach result:
 *
 *     destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *     if (IS_ERR(destroy_hwpt))
 *         goto out_unlock;
 *     *pt_id = hwpt->obj.id;
 *     destroy_hwpt = NULL;          // copied from the immediate_attach branch
 *     goto out_unlock;
 *
 * For an attach, do_attach returns NULL anyway; for a replace,
 * iommufd_device_do_replace returns the old HWPT with the one reference the
 * group's device_list held for it, which iommufd_device_change_pt must put
 * (and, for an automatic HWPT, destroy) once the locks are dropped. With
 * pt_id = a HWPT the put happens; with pt_id = an IOAS it is skipped.
 *
 * Consequence: after a replace onto an IOAS (VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * on an attached device, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) the old HWPT
 * keeps a reference no device holds: a manual HWPT can never be destroyed
 * (EBUSY), an automatic one is never freed and stays in its IOAS's hwpt_list
 * (still filled by every IOAS_MAP, its IOAS EBUSY on destroy), and closing
 * the iommufd cannot release them (WARN_ON(!destroyed)), leaving their pages
 * pinned and charged.
 *
 * Applied as: around a replace whose pt_id names an IOAS, the old HWPT holds
 * one more reference, dropped again unless the group moved to another HWPT.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdDevice, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { getU32 } from '../../../spec/abi/le.ts';
import { mutantImplementation } from '../harness.ts';

/**
 * The put iommufd_device_change_pt skips: one reference taken on the old HWPT
 * before the replace, so the put the reference makes (and, for an automatic
 * HWPT, its try-destroy) finds it still referenced; given back unless the
 * replace succeeded and moved the group.
 */
function lostPut(old: IommufdHwpt | null, current: () => IommufdHwpt | null, replace: () => number): number {
  if (!old) return replace();
  old.users++;
  const rc = replace();
  if (rc !== 0 || current() === old) old.users--;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-via-ioas-no-put', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        const sobj = ucmd.ctx.objects.load(ucmd.cmd.num('id')) as { type: string; idev?: IommufdDevice | null } | undefined;
        const idev = sobj?.type === 'SELFTEST' ? sobj.idev : null;
        const viaIoas = ucmd.ctx.objects.load(ucmd.cmd.num('mock_domain_replace.pt_id'))?.type === 'IOAS';
        const old: IommufdHwpt | null = viaIoas ? (idev?.igroup.hwpt ?? null) : null;
        return lostPut(old, () => idev!.igroup.hwpt, () => original(ucmd));
      },
    },
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached || !df.iommufd) return original();
      const off = layoutOf('vfio_device_attach_iommufd_pt', df.profile).fields.get('pt_id')!.offset;
      const raw = df.proc.copyFromUser(arg + BigInt(off), 4);
      const viaIoas = raw ? df.iommufd.ctx.objects.load(getU32(raw, 0))?.type === 'IOAS' : false;
      return lostPut(viaIoas ? idev.igroup.hwpt : null, () => idev.igroup.hwpt, original);
    },
  });
}
