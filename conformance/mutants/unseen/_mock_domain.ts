/**
 * Shared by the faults that change one step of IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS): a copy of
 * iommufd_test_mock_domain (selftest.c) whose bind, attach, the labels a failed attach and a failed
 * copy back go to and the op test in front of dev_flags are parameters. With the reference's own it answers exactly as the reference does.
 */
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { iommufdObjectAbort, iommufdObjectAlloc, iommufdObjectDestroyUser, iommufdObjectFinalize, type IommufdObject, type Result } from '../../../impl/iommufd/object.ts';
import { iommufdDeviceAttach, iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceUnbind } from '../../../impl/iommufd/device.ts';
import { iommufdUcmdRespond, type IommufdCtx, type IommufdDevice, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

/** struct selftest_obj (TYPE_IDEV), the shape the reference's other test ops read. */
export interface SelftestObj extends IommufdObject {
  readonly type: 'SELFTEST';
  mockDev: SimDevice | null;
  idev: IommufdDevice | null;
}

export interface MockDomainSteps {
  /** iommufd_device_bind: the new device object, or an errno. */
  readonly bind?: (ictx: IommufdCtx, dev: SimDevice) => Result<IommufdDevice>;
  /** iommufd_device_attach: 0 with ptId set to the HWPT attached, or an errno. */
  readonly attach?: (idev: IommufdDevice, ptId: { value: number }) => number;
  /** Whether a failed attach unwinds through out_unbind (the kernel's label) or skips it (to out_mdev). */
  readonly attachFailUnbinds?: boolean;
  /** Whether dev_flags is read for MOCK_DOMAIN_FLAGS only (the kernel's test of the op) or for either op. */
  readonly flagsForFlagsOpOnly?: boolean;
  /**
   * Whether a failed copy back of the answer unwinds through out_detach (the kernel's label) or
   * jumps past it to out_unbind with the device still attached, where iommufd_object_destroy_user
   * WARNs and leaves the referenced object (the reference's unbind throws there).
   */
  readonly respondFailDetaches?: boolean;
  /**
   * Whether the selftest object is published (iommufd_object_finalize) once it is allocated, before
   * the attach looks cmd->id up, instead of on success (the kernel's): the lowest free id, which the
   * object holds, then names it during the attach.
   */
  readonly finalizesFirst?: boolean;
}

/** iommufd_test_mock_domain with the given steps (the reference's where none is given). */
export function mockDomainHandler({ bind = iommufdDeviceBind, attach = iommufdDeviceAttach, attachFailUnbinds = true, flagsForFlagsOpOnly = true, respondFailDetaches = true, finalizesFirst = false }: MockDomainSteps): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx: ictx } = ucmd;
    const machine = ictx.machine;
    const sobj: SelftestObj = {
      type: 'SELFTEST',
      id: 0,
      users: 0,
      mockDev: null,
      idev: null,
      // iommufd_selftest_destroy
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
    if (finalizesFirst) iommufdObjectFinalize(ictx, sobj);
    const unwind = new Unwind();
    unwind.onError('out_sobj', () => iommufdObjectAbort(ictx, sobj));
    const devFlags = !flagsForFlagsOpOnly || cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? cmd.num('mock_domain_flags.dev_flags') : 0;
    const md = machine.mockDevCreate(devFlags);
    if (!('dev' in md)) return unwind.exit(md.errno);
    const mockDev = md.dev;
    unwind.onError('out_mdev', () => machine.mockDevDestroy(mockDev));
    const b = bind(ictx, mockDev);
    if (b.errno || !b.value) return unwind.exit(b.errno);
    const idev = b.value;
    const unbind = respondFailDetaches
      ? (): void => iommufdDeviceUnbind(idev)
      : (): void => {
          const urc = iommufdObjectDestroyUser(ictx, idev);
          if (urc) ictx.warnings.push(`iommufd_device_unbind: device ${idev.id} still referenced (errno ${urc})`);
        };
    if (attachFailUnbinds) unwind.onError('out_unbind', unbind);
    const ptId = { value: cmd.num('id') };
    rc = attach(idev, ptId);
    if (rc) return unwind.exit(rc);
    if (!attachFailUnbinds) unwind.onError('out_unbind', unbind);
    if (respondFailDetaches) unwind.onError('out_detach', () => iommufdDeviceDetach(idev));
    cmd.set('mock_domain.out_hwpt_id', ptId.value);
    cmd.set('mock_domain.out_stdev_id', sobj.id);
    cmd.set('mock_domain.out_idev_id', idev.id);
    rc = iommufdUcmdRespond(ucmd);
    if (rc) return unwind.exit(rc);
    sobj.mockDev = mockDev;
    sobj.idev = idev;
    if (!finalizesFirst) iommufdObjectFinalize(ictx, sobj);
    return unwind.exit(0);
  };
}

/** The IOMMU_TEST_CMD handler that sends MOCK_DOMAIN and MOCK_DOMAIN_FLAGS to `mockDomain` and every other op to the reference. */
export function mockDomainOps(mockDomain: (ucmd: Ucmd) => number): (ucmd: Ucmd, original: (u: Ucmd) => number) => number {
  return (ucmd, original) => {
    const op = ucmd.cmd.num('op');
    return op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? mockDomain(ucmd) : original(ucmd);
  };
}
