/**
 * Round 6a fault (selftest mock device, error unwind):
 * iommufd_test_mock_domain (drivers/iommu/iommufd/selftest.c) jumps to the
 * wrong label when iommufd_device_attach() fails:
 *
 *     rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *         goto out_mdev;          // should be out_unbind
 *
 * so the iommufd_device bound a moment earlier is never unbound: the mock
 * device is destroyed and the selftest object's id released, but the DEVICE
 * object stays published in the context with the driver's reference (users
 * 2), holding its iommufd_group and the DMA ownership of a group whose only
 * device is gone.
 *
 * Consequence: an IOMMU_TEST_OP_MOCK_DOMAIN onto a missing or incompatible
 * pt id fails as it should but leaves a DEVICE id behind: IOMMU_DESTROY of it
 * is EBUSY forever, it consumes the id the next object should get, and
 * closing the iommufd cannot release it (iommufd_fops_release's
 * WARN_ON(!destroyed)); everything else in the context is still freed only
 * because nothing references the stray device.
 *
 * Applied as: the reference's iommufd_test_mock_domain, restated, with the
 * attach-failure branch skipping iommufd_device_unbind.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { iommufdObjectAbort, iommufdObjectAlloc, iommufdObjectFinalize, type IommufdObject } from '../../../impl/iommufd/object.ts';
import { iommufdDeviceAttach, iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { type IommufdDevice, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

interface SelftestObj extends IommufdObject {
  readonly type: 'SELFTEST';
  mockDev: SimDevice | null;
  idev: IommufdDevice | null;
}

function mockDomain(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const machine = ictx.machine;
  const sobj: SelftestObj = {
    type: 'SELFTEST',
    id: 0,
    users: 0,
    mockDev: null,
    idev: null,
    destroy: () => {
      if (sobj.idev) {
        iommufdDeviceDetach(sobj.idev);
        iommufdDeviceUnbind(sobj.idev);
      }
      if (sobj.mockDev) sobj.mockDev.machine.mockDevDestroy(sobj.mockDev);
    },
  };
  let rc = iommufdObjectAlloc(ictx, sobj);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.onError('out_sobj', () => iommufdObjectAbort(ictx, sobj));
  const devFlags = cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? cmd.num('mock_domain_flags.dev_flags') : 0;
  const md = machine.mockDevCreate(devFlags);
  if (!('dev' in md)) return unwind.exit(md.errno);
  const mockDev = md.dev;
  unwind.onError('out_mdev', () => machine.mockDevDestroy(mockDev));
  const b = iommufdDeviceBind(ictx, mockDev);
  if (b.errno || !b.value) return unwind.exit(b.errno);
  const idev = b.value;
  const ptId = { value: cmd.num('id') };
  rc = iommufdDeviceAttach(idev, ptId);
  if (rc) return unwind.exit(rc); // THE FAULT: goto out_mdev, out_unbind skipped
  unwind.onError('out_unbind', () => iommufdDeviceUnbind(idev));
  unwind.onError('out_detach', () => iommufdDeviceDetach(idev));
  cmd.set('mock_domain.out_hwpt_id', ptId.value);
  cmd.set('mock_domain.out_stdev_id', sobj.id);
  cmd.set('mock_domain.out_idev_id', idev.id);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  sobj.mockDev = mockDev;
  sobj.idev = idev;
  iommufdObjectFinalize(ictx, sobj);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-attach-fail-skips-unbind', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op !== IOMMU_TEST_OP_MOCK_DOMAIN && op !== IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return original(ucmd);
        return mockDomain(ucmd);
      },
    },
  });
}
