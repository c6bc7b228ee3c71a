/**
 * R20-C1 — set-iommu-v1-fail-keeps-ioas-ref (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_set_iommu; the same code in 6.12 and 7.3).
 *
 * VFIO_SET_IOMMU on an iommufd used as a type1 container looks up the compat
 * IOAS, which takes a reference on it (get_compat_ioas → iommufd_lock_obj:
 * obj->users, and in 7.3 obj->wait_cnt too), asks for the type1 v1 semantics
 * and drops the reference on every way out:
 *
 *     ioas = get_compat_ioas(ictx);
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *
 *     if (type == VFIO_TYPE1_IOMMU)
 *             rc = iopt_disable_large_pages(&ioas->iopt);
 *     iommufd_put_object(ictx, &ioas->obj);
 *     return rc;
 *
 * THE FAULT: the v1 branch got an early error return (the usual "check rc
 * right after the call" reflex), above the put:
 *
 *     if (type == VFIO_TYPE1_IOMMU) {
 *             rc = iopt_disable_large_pages(&ioas->iopt);
 *             if (rc)
 *                     return rc;
 *     }
 *     iommufd_put_object(ictx, &ioas->obj);
 *     return 0;
 *
 * iopt_disable_large_pages() fails when the IOAS already has both a domain
 * and mappings (-EINVAL: "Won't do it if domains already have pages mapped in
 * them") or when raising the IOVA alignment to PAGE_SIZE would strand an area
 * (-EADDRINUSE). The ioctl still answers that errno, exactly as it should, and
 * nothing else changes at that moment: the bug is a reference left behind on
 * the compat IOAS, which shows only commands later, on that object:
 *
 *   - IOMMU_DESTROY of the IOAS, once every HWPT, access and mapping that used
 *     it is gone, answers EBUSY instead of 0 (refcount_dec_if_one(users)
 *     fails), and keeps doing so for the life of the file: userspace can never
 *     free the IOAS, nor switch IOMMU_OPTION_RLIMIT_MODE on that context
 *     (the object table never becomes empty);
 *   - at close, iommufd_fops_release cannot destroy it (WARN "Bug related to
 *     users refcount"), so the IOAS, its io_pagetable and every iopt_pages
 *     (with their mm and task references) are leaked;
 *   - each further failing VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) leaks one more.
 *
 * A VMM that probes TYPE1 after TYPE1v2 (or retries SET_IOMMU after mapping)
 * hits it without noticing: the errno it gets is the right one.
 *
 * Applied as: VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) on an iommufd context is the
 * reference's; when it fails after get_compat_ioas succeeded (a compat IOAS
 * exists, the context is not in no-iommu mode, large pages were still
 * enabled — the failure is iopt_disable_large_pages'), one users reference is
 * left on the compat IOAS, as the skipped iommufd_put_object leaves it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_TYPE1_IOMMU } from '../../../spec/uapi/constants.ts';
import { iommufdIoctlDecode } from '../../../impl/iommufd/main.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const V1 = BigInt(VFIO_TYPE1_IOMMU);

/** get_compat_ioas as the reference answers it: the live compat IOAS, or none (ENODEV). */
function compatIoas(ctx: IommufdCtx): IommufdIoas | undefined {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return undefined;
  return ioas as IommufdIoas;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('set-iommu-v1-fail-keeps-ioas-ref', profile, {
    // VFIO_SET_IOMMU takes an integer argument: it is taken at the context file's ioctl.
    ctx: (ctx) => {
      const file = ctx.file;
      if (!file) return;
      patchOwn(file, 'ops', (ops: KFileOps): KFileOps => ({
        ...ops,
        ioctl: (f, cmd, arg) => {
          const d = iommufdIoctlDecode(ctx, cmd, arg);
          if (!d.ok || d.kind !== 'int' || d.command.name !== 'VFIO_SET_IOMMU' || d.arg !== V1) return ops.ioctl!(f, cmd, arg);
          const ioas = ctx.noIommuMode ? undefined : compatIoas(ctx);
          const largePagesOn = ioas !== undefined && !ioas.iopt.disableLargePages;
          const rc = ops.ioctl!(f, cmd, arg);
          // THE FAULT: `if (rc) return rc;` above iommufd_put_object — the lookup's reference stays.
          if (rc < 0 && ioas && largePagesOn) refcount_inc(ioas);
          return rc;
        },
      }));
    },
  });
}
