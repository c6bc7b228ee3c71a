/**
 * access-attach-ref-before-add (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, reached by iommufd_access_attach and
 * iommufd_access_replace: IOMMU_TEST_OP_CREATE_ACCESS,
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, an mdev driver's attach/re-attach).
 *
 * An access holds a users reference on the IOAS it is attached to, which
 * is what makes IOMMU_DESTROY of that IOAS answer EBUSY while the access is
 * there. The reference is taken once the access is in the IOAS's access
 * list, so a refused join leaves the IOAS as it was:
 *
 *     access->ioas = NULL;
 *
 *     if (new_ioas) {
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *             if (rc) {
 *                     access->ioas = cur_ioas;
 *                     return rc;
 *             }
 *             refcount_inc(&new_ioas->obj.users);
 *     }
 *
 * THE FAULT takes the reference first ("pin the IOAS before publishing the
 * access in its list") and keeps the old error path, which has no
 * refcount_dec:
 *
 *     if (new_ioas) {
 *             refcount_inc(&new_ioas->obj.users);
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *             if (rc) {
 *                     access->ioas = cur_ioas;
 *                     return rc;
 *             }
 *     }
 *
 * iopt_add_access fails with -ENOMEM (xa_alloc of the list slot; a fail-nth
 * point), -EADDRINUSE (a pinning access's PAGE_SIZE alignment against an
 * area mapped at a byte-granular IOVA, length or user offset) or -EBUSY (a
 * full list). The attach or replace answers that errno as the kernel does,
 * and the access is destroyed (CREATE_ACCESS) or stays where it was
 * (ACCESS_REPLACE_IOAS) — but the IOAS it tried to join keeps one reference
 * nobody will ever drop.
 *
 * Consequence, on another object and later: that IOAS can never be
 * destroyed. IOMMU_DESTROY of it answers EBUSY for the rest of the
 * context's life, with no HWPT, device or access left on it; when the
 * context is closed, iommufd_fops_release cannot destroy it (users never
 * reaches 1: the kernel WARNs and leaks it, its areas and their iopt_pages).
 * Nothing differs at the failing command itself.
 *
 * Applied as: around IOMMU_TEST_OP_CREATE_ACCESS and
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, each IOAS's io_pagetable reports a
 * refused iopt_add_access — its fail-nth point fired (own wrapper of its
 * injector), or the slot it just stored gets an alignment the reference's
 * iopt_calculate_iova_alignment will refuse (own method of its access
 * list) — and the IOAS then keeps the reference the faulty code took
 * before the call.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptAccess } from '../../../impl/iommufd/iommufd_private.ts';
import type { FaultInjector } from '../../../impl/lib/fail_nth.ts';

/** What iopt_calculate_iova_alignment will answer for the list as it is now: false = -EADDRINUSE. */
function alignmentAccepted(iopt: IoPagetable): boolean {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, Number(d.pgsizeBitmap & -d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  if (align <= iopt.iovaAlignment) return true;
  const mask = BigInt(align - 1);
  return !iopt.areas.some((a) => a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask);
}

export function createAdapter(profile: Profile): Implementation {
  /** Set while an access attach/replace runs: iommufd_access_change_ioas may join an IOAS. */
  let changing = false;
  /** THE FAULT: the reference refcount_inc took before iopt_add_access, left behind when it fails. */
  const leakRef = (ioas: IommufdIoas): void => {
    ioas.users++;
  };

  return mutantImplementation('access-attach-ref-before-add', profile, {
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      const iopt = ioas.iopt;
      // iopt_add_access's xa_alloc: its fail-nth point is the only injector call of an io_pagetable during change_ioas.
      patchOwn(iopt, 'faults', (faults) => {
        const wrapped = Object.create(faults) as FaultInjector;
        Object.defineProperty(wrapped, 'shouldFail', {
          value: () => {
            const fail = faults.shouldFail();
            if (fail && changing) leakRef(ioas);
            return fail;
          },
          configurable: true,
        });
        return wrapped;
      });
      // The slot is stored, then iopt_calculate_iova_alignment refuses it (-EADDRINUSE).
      const list = iopt.accessList;
      patchOwn(list, 'set', (set) => (id: number, access: IoptAccess) => {
        const had = list.has(id);
        const r = set(id, access);
        if (changing && !had && !alignmentAccepted(iopt)) leakRef(ioas);
        return r;
      });
    },
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op !== IOMMU_TEST_OP_CREATE_ACCESS && op !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
        changing = true;
        try {
          return original(ucmd);
        } finally {
          changing = false;
        }
      },
    },
  });
}
