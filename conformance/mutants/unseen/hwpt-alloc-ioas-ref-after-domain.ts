/**
 * R18-C3 — hwpt-alloc-ioas-ref-after-domain (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc; 6.12 and 7.3 alike).
 *
 * A paging HWPT holds a users reference on its IOAS for as long as it exists;
 * it is taken right after the object is allocated and dropped by
 * iommufd_hwpt_paging_destroy(), which is also the abort of a HWPT whose
 * allocation fails half-way:
 *
 *     INIT_LIST_HEAD(&hwpt_paging->hwpt_item);
 *     /* Pairs with iommufd_hw_pagetable_destroy() *\/
 *     refcount_inc(&ioas->obj.users);
 *     hwpt_paging->ioas = ioas;
 *     hwpt_paging->nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;
 *
 *     hwpt->domain = ops->domain_alloc_paging_flags(idev->dev,
 *                     flags & ~IOMMU_HWPT_FAULT_ID_VALID, user_data);
 *     if (IS_ERR(hwpt->domain)) {
 *             rc = PTR_ERR(hwpt->domain);
 *             hwpt->domain = NULL;
 *             goto out_abort;
 *     }
 *     ...
 * out_abort:
 *     iommufd_object_abort_and_destroy(ictx, &hwpt->obj);
 *
 *     void iommufd_hwpt_paging_destroy(struct iommufd_object *obj)
 *     {
 *             ...
 *             __iommufd_hwpt_destroy(&hwpt_paging->common);
 *             refcount_dec(&hwpt_paging->ioas->obj.users);
 *     }
 *
 * THE FAULT: the refcount_inc moved below the driver's allocation ("only a
 * HWPT that got a domain pins the IOAS"), while the abort still drops it:
 *
 *     hwpt_paging->ioas = ioas;
 *     hwpt->domain = ops->domain_alloc_paging_flags(...);
 *     if (IS_ERR(hwpt->domain)) { ...; goto out_abort; }
 *     ...
 *     /* Pairs with iommufd_hw_pagetable_destroy() *\/
 *     refcount_inc(&ioas->obj.users);
 *
 * Every allocation the IOMMU driver refuses — IOMMU_HWPT_ALLOC with a
 * NEST_PARENT flag its unit cannot nest, driver data it does not take, a
 * selftest data blob of the wrong size, or an allocation failure, also for
 * the automatic domain of an attach by IOAS id — now drops an IOAS reference
 * that was never taken. Nothing shows on that command (it fails with the
 * driver's errno, as it must).
 *
 * Consequence (two objects, later commands): the IOAS's users count is one
 * short for every such failure. With a HWPT (or an attached device's
 * automatic HWPT) on the IOAS, IOMMU_DESTROY of the IOAS now succeeds while
 * that HWPT still uses it: the IOAS is unmapped and freed under the HWPT —
 * the devices attached to it lose every mapping, its id is free for the next
 * object, and the HWPT's own destroy later writes into the freed IOAS
 * (use-after-free). With nothing else on the IOAS, the count drops to zero,
 * refcount_dec() saturates it ("decrement hit 0; leaking memory") and the
 * IOAS can never be destroyed: IOMMU_DESTROY answers EBUSY forever and it is
 * leaked when the context is closed.
 *
 * Applied as: the IOMMU drivers' domain allocation is watched; when an
 * IOMMU_HWPT_ALLOC on an IOAS, or an attach / replace / mock domain by IOAS
 * id, had a driver allocation fail, the IOAS loses one users reference
 * (saturating at zero as the kernel's refcount_t does). An IOAS destroyed
 * while HWPTs still point at it keeps a saturated count afterwards, so the
 * HWPTs' later refcount_dec on the freed object is lost (the use-after-free).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** REFCOUNT_SATURATED: what refcount_t holds after a decrement hit zero (the object is leaked). */
const REFCOUNT_SATURATED = 0x40000000;

export function createAdapter(profile: Profile): Implementation {
  /** Set by a failed driver domain allocation. */
  const state = { driverFailed: false };

  /** The IOAS behind `id` in ctx, if that is an IOAS. */
  const ioasOf = (ctx: IommufdCtx | undefined, id: number): IommufdIoas | undefined => {
    const o = ctx?.objects.load(id);
    return o && o.type === 'IOAS' ? (o as IommufdIoas) : undefined;
  };

  /** Run a command that may allocate a HWPT on `ioas`; drop the reference the failed allocation never took. */
  const around = (ioas: IommufdIoas | undefined, run: () => number): number => {
    const outer = state.driverFailed;
    state.driverFailed = false;
    try {
      return run();
    } finally {
      if (state.driverFailed && ioas) {
        // refcount_dec(&hwpt_paging->ioas->obj.users) in the abort, without the inc
        if (ioas.users > 1) ioas.users--;
        else if (ioas.users === 1) ioas.users = REFCOUNT_SATURATED; // decrement hit 0; leaking memory
      }
      state.driverFailed = outer;
    }
  };

  return mutantImplementation('hwpt-alloc-ioas-ref-after-domain', profile, {
    machine: (m) => {
      for (const drv of new Set([...m.instances.values()].map((i) => i.driver))) {
        patchOwn(drv, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
          const r = alloc(dev, flags, data);
          if (!('domain' in r)) state.driverFailed = true;
          return r;
        });
      }
    },
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      // A destroy with HWPTs still pointing at the IOAS frees it under them: their later
      // refcount_dec lands in freed memory (kept from underflowing here).
      patchOwn(ioas, 'destroy', (destroy) => () => {
        const inUse = ioas.hwptList.length > 0;
        destroy();
        if (inUse) ioas.users = REFCOUNT_SATURATED;
      });
    },
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd: Ucmd, original: IoctlExecute) => around(ioasOf(ucmd.ctx, ucmd.cmd.num('pt_id')), () => original(ucmd)),
      IOMMU_TEST_CMD: (ucmd: Ucmd, original: IoctlExecute) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN || op === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return around(ioasOf(ucmd.ctx, ucmd.cmd.num('id')), () => original(ucmd));
        if (op === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return around(ioasOf(ucmd.ctx, ucmd.cmd.num('mock_domain_replace.pt_id')), () => original(ucmd));
        return original(ucmd);
      },
    },
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const ptId = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes).num('pt_id');
      return around(ioasOf(df.device.iommufdDevice?.ictx, ptId), original);
    },
  });
}
