/**
 * bind-alloc-fail-keeps-owner (drivers/iommu/iommufd/device.c
 * iommufd_device_bind, 6.12).
 *
 * 6.12's bind claims DMA ownership of the device's whole iommu_group for the
 * context first and allocates the iommufd_device object after; each failure
 * unwinds through the label of what it has done so far:
 *
 *     rc = iommu_device_claim_dma_owner(dev, ictx);
 *     if (rc)
 *             goto out_group_put;
 *
 *     idev = iommufd_object_alloc(ictx, idev, IOMMUFD_OBJ_DEVICE);
 *     if (IS_ERR(idev)) {
 *             rc = PTR_ERR(idev);
 *             goto out_release_owner;
 *     }
 *     ...
 * out_release_owner:
 *     iommu_device_release_dma_owner(dev);
 * out_group_put:
 *     iommufd_put_group(igroup);
 *     return ERR_PTR(rc);
 *
 * The fault is the label of the line above copied down: a failed object
 * allocation (the kzalloc or the xa_alloc of the id: -ENOMEM) does
 * `goto out_group_put;`, so the claim it just made is never given back.
 *
 * What it breaks: VFIO_DEVICE_BIND_IOMMUFD fails with ENOMEM, as it should,
 * and no device object exists — but the group's owner_cnt stays raised with
 * the context as owner, and the group stays on its blocking domain. Nothing
 * in the failed command shows it, and the context that failed can still bind
 * (the same owner only bumps the count) and unbind (the count never drops to
 * zero again). Every other context is refused with EPERM for as long as the
 * group exists: after the process closes that iommufd, after every device fd
 * is closed, the device (and every device of its group) can never be bound to
 * iommufd again, and the group never returns to its kernel DMA domain — the
 * ownership is leaked to a context that no longer exists.
 *
 * 7.3 allocates the object before iommufd_bind_iommu claims the group (the
 * claim is its last fallible step), so this path exists in 6.12 only; under
 * 7.3 the adapter is the reference.
 *
 * Applied as: on 6.12, VFIO_DEVICE_BIND_IOMMUFD (vfio_df_open →
 * vfio_iommufd_physical_bind) and the selftest's IOMMU_TEST_OP_MOCK_DOMAIN
 * (mockDomainHandler in _mock_domain.ts, given the bind) bind through a copy
 * of iommufd_device_bind with the faulty label; the rest of both ioctls is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdObjectAlloc, iommufdObjectFinalize, refcount_inc, type Result } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetGroup, iommufdPutGroup } from '../../../impl/iommufd/group.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { bindHook } from './_cdev_bind.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_device_destroy */
function deviceDestroy(idev: IommufdDevice): void {
  idev.dev.machine.releaseDmaOwner(idev.dev);
  iommufdPutGroup(idev.igroup);
  if (!idev.dev.isMock) idev.ictx.file?.put();
}

/** 6.12 iommufd_device_bind with the faulty label. */
function deviceBind612(ictx: IommufdCtx, dev: SimDevice): Result<IommufdDevice> {
  const machine = dev.machine;
  // iommufd always sets IOMMU_CACHE
  if (!machine.capable(dev, 'CACHE_COHERENCY')) return { errno: -EINVAL };
  const g = iommufdGetGroup(ictx, dev);
  if (g.errno || !g.value) return { errno: g.errno };
  const igroup = g.value;
  const unwind = new Unwind();
  unwind.onError('out_group_put', () => iommufdPutGroup(igroup));
  // Every simulated platform isolates MSIs: no allow_unsafe_interrupts EPERM.
  const claim = machine.claimDmaOwner(dev, ictx);
  if (claim) return unwind.exit({ errno: claim });
  const idev: IommufdDevice = {
    type: 'DEVICE',
    id: 0,
    users: 0,
    ictx,
    dev,
    igroup,
    enforceCacheCoherency: false,
    destroy: () => deviceDestroy(idev),
  };
  const rc = iommufdObjectAlloc(ictx, idev);
  // THE FAULT: `goto out_group_put;` — out_release_owner (iommu_device_release_dma_owner) is skipped.
  if (rc) return unwind.exit({ errno: rc });
  if (!dev.isMock) ictx.file?.get();
  idev.enforceCacheCoherency = machine.capable(dev, 'ENFORCE_CACHE_COHERENCY');
  refcount_inc(idev); // the calling driver is a user until unbind
  iommufdObjectFinalize(ictx, idev);
  return unwind.exit({ errno: 0, value: idev });
}

/** vfio_df_open (cdev) → vfio_iommufd_physical_bind over the faulty bind. */
function dfOpen(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount !== 0) return -EINVAL;
  vdev.openCount++;
  const r = deviceBind612(df.iommufd!.ctx, vdev.dev);
  if (r.errno || !r.value) {
    vdev.openCount--;
    return r.errno;
  }
  vdev.iommufdDevice = r.value;
  df.devid = r.value.id;
  return 0;
}

/** iommufd_test_mock_domain over the faulty bind (the rest as selftest.c). */
const mockDomain = mockDomainHandler({ bind: deviceBind612 });

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '6.12') return mutantImplementation('bind-alloc-fail-keeps-owner', profile, {});
  return mutantImplementation('bind-alloc-fail-keeps-owner', profile, {
    vfioIoctl: bindHook({ open: dfOpen }),
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(mockDomain),
    },
  });
}
