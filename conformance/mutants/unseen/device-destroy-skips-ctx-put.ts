/**
 * Fault K3 (fd release / refcount): iommufd_device_destroy does not drop the
 * iommufd_ctx reference iommufd_device_bind took (the iommufd_ctx_put is
 * missing for physical devices).
 *
 * Consequence: once a VFIO device has been bound to a context, that context's
 * file can never be released: closing the /dev/iommu fd (and every device fd)
 * does not run iommufd_fops_release, so its IOASes, HWPTs and the pages they
 * pin (and the locked/pinned memory charged for them) stay until the process
 * exits — and in the kernel, not even then (the reference is a leak of the
 * struct file).
 *
 * Bug class: an unbalanced get/put across bind/unbind (VFIO/iommufd have had
 * several "fix ctx/kvm/file reference leak on unbind" fixes, e.g. "vfio:
 * Fix ... iommufd_ctx_put" on the cdev unbind path).
 *
 * Applied as: each physical DEVICE object's own destroy takes one extra
 * reference on the context's file before the reference's destroy puts one.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('device-destroy-skips-ctx-put', profile, {
    object: (obj, ctx) => {
      if (obj.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      if (idev.dev.isMock) return;
      patchOwn(idev, 'destroy', (destroy) => () => {
        ctx.file?.get(); // the missing iommufd_ctx_put, as a net effect
        destroy();
      });
    },
  });
}
