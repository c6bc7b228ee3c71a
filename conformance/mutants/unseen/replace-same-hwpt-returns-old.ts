/**
 * R22-C1 — replace-same-hwpt-returns-old (drivers/iommu/iommufd/device.c,
 * iommufd_device_do_replace(); both profiles).
 *
 * A replace returns the HWPT the caller must put: the old one, whose
 * references the replace has just moved to the new HWPT (all but one, which
 * the caller's iommufd_hw_pagetable_put() drops). Replacing a group onto the
 * HWPT it is already on moves nothing, so nothing must be put (7.3; 6.12 is
 * the same with igroup->hwpt):
 *
 *     old_hwpt = attach->hwpt;
 *     ...
 *     if (hwpt == old_hwpt) {
 *             mutex_unlock(&igroup->lock);
 *             return NULL;
 *     }
 *     ...
 *     mutex_unlock(&igroup->lock);
 *
 *     // Caller must destroy old_hwpt
 *     return old_hwpt;
 *
 * THE FAULT: a cleanup that funnels the function's successful exits through
 * one label ("Caller must destroy old_hwpt") sends the no-op case there too:
 *
 *     if (hwpt == old_hwpt)
 *             goto out_unlock;      // ... out_unlock: mutex_unlock(); return old_hwpt;
 *
 * and iommufd_device_change_pt() then does iommufd_hw_pagetable_put() on the
 * HWPT the group is still attached to, dropping a reference that belongs to
 * one of its attached devices.
 *
 * A no-op replace is ordinary: VFIO_DEVICE_ATTACH_IOMMUFD_PT of an attached
 * device naming the HWPT it is on, or naming its IOAS when the first
 * compatible automatic HWPT of that IOAS is its own (a VMM re-attaching its
 * devices after a reset or a migration does exactly this), or
 * IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE with the same pt_id. The command itself
 * answers correctly, with the right pt_id. What it breaks shows later, or on
 * the other objects behind the HWPT:
 *   - an automatic HWPT whose devices' references fall to one is destroyed
 *     by that very put (iommufd_object_put_and_try_destroy) while the device
 *     is still attached to it: its domain is removed from the IOAS (the
 *     pages are unpinned if it was the last one) and freed under the
 *     attached group, whose DMA stops (or, in the kernel, walks freed page
 *     tables); its id is gone (IOMMU_DESTROY: ENOENT) and is reused by the
 *     next object; the IOAS can be destroyed while the device is attached;
 *   - a HWPT the user allocated can be destroyed (IOMMU_DESTROY succeeds)
 *     while a device is still attached to it, with the same consequences;
 *     if instead the device detaches, its put drops the last reference
 *     (refcount_dec() hits zero: saturated, "leaking memory"): the HWPT can
 *     never be destroyed (EBUSY), neither can its IOAS, and at close
 *     iommufd_fops_release() cannot free them — the pages stay pinned;
 *   - each further no-op replace drops one more reference.
 *
 * Applied as: the machine counts successful iommu_replace_group_handle()
 * calls; a replace (VFIO ATTACH of an attached device, MOCK_DOMAIN_REPLACE)
 * that succeeded without one was the no-op, and the HWPT the group is on gets
 * the extra put. The kernel's reference count of each HWPT is kept beside the
 * reference's own (the difference is the references the fault dropped): an
 * automatic HWPT's put-and-try-destroy sees the kernel count, IOMMU_DESTROY
 * of a user HWPT sees it, a count that reaches zero saturates (the object is
 * never freed), and at close a HWPT is freed where the kernel's index-ordered
 * release loop would free it. Once freed, further puts on it (the attached
 * devices' detaches: in the kernel, writes to freed memory) are ignored.
 */
import { EFAULT } from '../../../impl/lib/errno.ts';
import { iommufdObjectRemove, type IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdDevice, IommufdHwpt, IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** A users value no decrement of a freed HWPT can bring to one (writes to freed memory are ignored). */
const FREED = 1_000_000_000;
/** refcount_t's saturation: a count that hit zero never reaches one again. */
const SATURATED = 1_000_000;

/** The kernel's view of one HWPT_PAGING's users count beside the reference's. */
interface Shadow {
  /** The reference's count. */
  ref: number;
  /** References the fault dropped (kernel count = ref - missing). */
  missing: number;
  /** The kernel count hit zero (refcount_dec: saturated, leaked). */
  saturated: boolean;
  /** Freed by the kernel while something still points to it. */
  freed: boolean;
  /** Destroyed (by the kernel's count or the reference's). */
  gone: boolean;
}

const shadows = new WeakMap<IommufdHwptPaging, Shadow>();
/** Per context: the id IOMMU_DESTROY is removing right now (-1: none). */
const destroying = new WeakMap<IommufdCtx, number>();

function track(h: IommufdHwptPaging, ctx: IommufdCtx): void {
  const s: Shadow = { ref: h.users, missing: 0, saturated: false, freed: false, gone: false };
  shadows.set(h, s);
  Object.defineProperty(h, 'users', {
    configurable: true,
    enumerable: true,
    get: () => {
      if (s.missing === 0) return s.ref;
      if (s.freed) return FREED;
      if (s.saturated) return s.ref + SATURATED;
      const kernel = s.ref - s.missing;
      // iommufd_object_put_and_try_destroy: refcount_dec, then refcount_dec_if_one on the kernel count.
      if (h.autoDomain) return kernel;
      // IOMMU_DESTROY: refcount_dec_if_one on the kernel count.
      if (kernel === 1 && destroying.get(ctx) === h.id) return 1;
      return s.ref;
    },
    set: (v: number) => {
      if (s.missing === 0) {
        s.ref = v;
        return;
      }
      if (s.freed) return;
      if (s.saturated) {
        s.ref = v - SATURATED;
        return;
      }
      s.ref = h.autoDomain ? v + s.missing : v;
      if (!h.autoDomain && s.ref - s.missing <= 0) s.saturated = true;
    },
  });
  patchOwn(h, 'destroy', (destroy) => () => {
    destroy();
    s.gone = true;
    if (s.missing > 0) {
      s.freed = true;
      h.id = 0; // a freed object's id names nothing (iommufd_object_remove's to_destroy check)
    }
  });
}

/** THE FAULT: iommufd_device_change_pt's iommufd_hw_pagetable_put() of the HWPT the no-op replace returned. */
function extraPut(ctx: IommufdCtx, hwpt: IommufdHwpt | null): void {
  if (!hwpt || hwpt.type !== 'HWPT_PAGING') return;
  const s = shadows.get(hwpt);
  if (!s || s.gone) return;
  s.missing++;
  if (hwpt.autoDomain) {
    iommufdObjectRemove(ctx, hwpt.id); // put_and_try_destroy: freed when the kernel count is now one
    return;
  }
  if (s.ref - s.missing <= 0) s.saturated = true;
}

/**
 * iommufd_fops_release's xa_for_each pass, as far as the fault changes it: a
 * user HWPT whose kernel count is one while mock devices are attached to it
 * is freed before them when its index comes first.
 */
function releaseOrder(ctx: IommufdCtx): void {
  for (const [id, obj] of ctx.objects.entries()) {
    if (obj.type !== 'HWPT_PAGING') continue;
    const h = obj as IommufdHwptPaging;
    const s = shadows.get(h);
    if (!s || s.missing === 0 || s.freed || s.saturated || h.autoDomain || s.ref - s.missing !== 1) continue;
    const attached = new Set<IommufdDevice>();
    for (const g of ctx.groups.values()) if (g.hwpt === h) for (const d of g.deviceList) attached.add(d);
    const holders = ctx.objects
      .entries()
      .filter(([, o]) => o.type === 'SELFTEST' && attached.has((o as IommufdObject & { idev: IommufdDevice | null }).idev as IommufdDevice))
      .map(([oid]) => oid);
    if (holders.length === 0 || holders.some((oid) => oid < id)) continue;
    destroying.set(ctx, id);
    try {
      iommufdObjectRemove(ctx, id);
    } finally {
      destroying.set(ctx, -1);
    }
  }
}

export function createAdapter(profile: Profile): Implementation {
  /** Successful iommu_replace_group_handle() calls of the current machine. */
  const replaces = { count: 0 };
  return mutantImplementation('replace-same-hwpt-returns-old', profile, {
    machine: (m) => {
      replaces.count = 0;
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        const rc = replace(g, domain);
        if (rc === 0) replaces.count++;
        return rc;
      });
    },
    ctx: (ctx) => {
      destroying.set(ctx, -1);
      const file = ctx.file;
      if (!file) return;
      const ops = file.ops;
      const wrapped: KFileOps = {
        ...ops,
        release: (f) => {
          releaseOrder(ctx);
          ops.release(f);
        },
      };
      Object.defineProperty(file, 'ops', { value: wrapped, writable: false, configurable: true, enumerable: true });
    },
    object: (obj, ctx) => {
      if (obj.type === 'HWPT_PAGING') track(obj as IommufdHwptPaging, ctx);
    },
    handlers: {
      IOMMU_DESTROY: (ucmd, original) => {
        destroying.set(ucmd.ctx, ucmd.cmd.num('id'));
        try {
          return original(ucmd);
        } finally {
          destroying.set(ucmd.ctx, -1);
        }
      },
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        const sobj = ucmd.ctx.objects.load(ucmd.cmd.num('id')) as (IommufdObject & { idev?: IommufdDevice | null }) | undefined;
        const idev = sobj?.type === 'SELFTEST' ? sobj.idev : null;
        const old = idev?.igroup.hwpt ?? null;
        const before = replaces.count;
        const rc = original(ucmd);
        // iommufd_device_replace succeeded (a failed copy-back comes after it) without replacing anything.
        if ((rc === 0 || rc === -EFAULT) && idev && old && idev.igroup.hwpt === old && replaces.count === before) extraPut(ucmd.ctx, old);
        return rc;
      },
    },
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request) return original();
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev || !vdev.iommufdAttached) return original();
      const old = idev.igroup.hwpt;
      const before = replaces.count;
      const rc = original();
      // The replace succeeded: answered, or its pt_id copy-back failed and out_detach detached the device.
      const replaced = rc === 0 || (rc === -EFAULT && !vdev.iommufdAttached);
      if (replaced && replaces.count === before) extraPut(idev.ictx, old);
      return rc;
    },
  });
}
