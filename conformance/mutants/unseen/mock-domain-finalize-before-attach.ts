/**
 * mock-domain-finalize-before-attach (drivers/iommu/iommufd/selftest.c
 * iommufd_test_mock_domain, over main.c's object table: IOMMU_TEST_OP_MOCK_DOMAIN
 * and MOCK_DOMAIN_FLAGS; 6.12 and 7.3).
 *
 * The kernel's code publishes the selftest object last, after the attach and
 * the copy-out, so that until then its id is a reserved (XA_ZERO_ENTRY) slot
 * that every iommufd_get_object() answers ENOENT for:
 *
 *     sobj = iommufd_object_alloc(ucmd->ictx, sobj, IOMMUFD_OBJ_SELFTEST);
 *     ...
 *     idev = iommufd_device_bind(ucmd->ictx, &sobj->idev.mock_dev->dev, &idev_id);
 *     ...
 *     rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *             goto out_unbind;
 *     ...
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_detach;
 *     iommufd_object_finalize(ucmd->ictx, &sobj->obj);
 *     return 0;
 *
 * THE FAULT: iommufd_object_finalize() is moved up to right after the
 * allocation (the error paths still abort the id), so the half-built selftest
 * object is visible in the table while the command is still attaching.
 *
 * Observable: IOMMU_TEST_OP_MOCK_DOMAIN whose `id` is the id the selftest object
 * itself receives (the lowest free id) finds that object in
 * iommufd_device_change_pt and answers EINVAL (not an IOAS or HWPT) where the
 * kernel answers ENOENT. In the kernel the object is reachable (and destroyable
 * by a racing IOMMU_DESTROY) before it is initialised.
 *
 * Applied as: MOCK_DOMAIN / MOCK_DOMAIN_FLAGS run a copy of
 * iommufd_test_mock_domain with the finalize moved; every other op is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { iommufdDeviceAttach, iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { iommufdObjectAbort, iommufdObjectAlloc, iommufdObjectFinalize, type IommufdObject } from '../../../impl/iommufd/object.ts';
import { type IommufdDevice, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

interface SelftestObj extends IommufdObject {
  readonly type: 'SELFTEST';
  mockDev: SimDevice | null;
  idev: IommufdDevice | null;
}

function selftestDestroy(sobj: SelftestObj): void {
  if (sobj.idev) {
    iommufdDeviceDetach(sobj.idev);
    iommufdDeviceUnbind(sobj.idev);
  }
  if (sobj.mockDev) sobj.mockDev.machine.mockDevDestroy(sobj.mockDev);
}

/** iommufd_test_mock_domain with THE FAULT. */
function mockDomain(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const machine = ictx.machine;
  const sobj: SelftestObj = { type: 'SELFTEST', id: 0, users: 0, mockDev: null, idev: null, destroy: () => selftestDestroy(sobj) };
  let rc = iommufdObjectAlloc(ictx, sobj);
  if (rc) return rc;
  // THE FAULT: published here instead of at the end.
  iommufdObjectFinalize(ictx, sobj);
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
  unwind.onError('out_unbind', () => iommufdDeviceUnbind(idev));
  const ptId = { value: cmd.num('id') };
  rc = iommufdDeviceAttach(idev, ptId);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_detach', () => iommufdDeviceDetach(idev));
  cmd.set('mock_domain.out_hwpt_id', ptId.value);
  cmd.set('mock_domain.out_stdev_id', sobj.id);
  cmd.set('mock_domain.out_idev_id', idev.id);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  sobj.mockDev = mockDev;
  sobj.idev = idev;
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-domain-finalize-before-attach', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return mockDomain(ucmd);
        return original(ucmd);
      },
    },
  });
}
