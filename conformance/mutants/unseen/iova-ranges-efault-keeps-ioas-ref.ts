/**
 * iova-ranges-efault-keeps-ioas-ref (drivers/iommu/iommufd/ioas.c,
 * iommufd_ioas_iova_ranges — the copy_to_user failure inside the span walk).
 *
 * The kernel leaves every exit after iommufd_get_ioas through out_put, which
 * drops the read side of iova_rwsem and the IOAS reference the lookup took:
 *
 *     if (cmd->num_iovas < max_iovas) {
 *             struct iommu_iova_range elm = {
 *                     .start = span.start_hole,
 *                     .last = span.last_hole,
 *             };
 *
 *             if (copy_to_user(&ranges[cmd->num_iovas], &elm,
 *                              sizeof(elm))) {
 *                     rc = -EFAULT;
 *                     goto out_put;
 *             }
 *     }
 *     ...
 * out_put:
 *     up_read(&ioas->iopt.iova_rwsem);
 *     iommufd_put_object(ucmd->ictx, &ioas->obj);
 *     return rc;
 *
 * THE FAULT: the error branch inside the loop is written as an early return
 * that remembers the lock but not the reference:
 *
 *             if (copy_to_user(...)) {
 *                     up_read(&ioas->iopt.iova_rwsem);
 *                     return -EFAULT;
 *             }
 *
 * It is reached only when the caller asks for at least one range
 * (num_iovas > 0) and allowed_iovas points at memory it cannot write — the
 * answer is the kernel's (EFAULT), but the IOAS keeps one more user. From then
 * on IOMMU_DESTROY of that IOAS is EBUSY forever (iommufd_object_remove finds
 * users != 1), and closing the iommufd cannot free it (iommufd_fops_release
 * WARNs with objects still referenced and stops): the IOAS and whatever it
 * still holds outlive the context.
 *
 * Applied as: IOMMU_IOAS_IOVA_RANGES through a copy of the reference's
 * handler whose EFAULT exit takes one more users reference on the IOAS (the
 * reference's lookup takes none, so the kernel's unbalanced get is that).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EMSGSIZE, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';
import { iommufdGetIoas, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptIovaRanges } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';

/** iommufd_ioas_iova_ranges with the faulty EFAULT exit. */
function iovaRanges(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const maxIovas = cmd.num('num_iovas');
  const ranges = cmd.big('allowed_iovas');
  let num = 0;
  cmd.set('out_iova_alignment', BigInt(ioas.iopt.iovaAlignment));
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (const hole of ioptIovaRanges(ioas.iopt)) {
    if (num < maxIovas) {
      const elm = encodeStruct(ctx.profile, 'iommu_iova_range', { start: hole.start, last: hole.last });
      if (!ctx.proc.copyToUser(ranges + BigInt(num * elmSize), elm)) {
        // THE FAULT: return -EFAULT without iommufd_put_object (up_read only).
        refcount_inc(ioas);
        return -EFAULT;
      }
    }
    num++;
  }
  cmd.set('num_iovas', num);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return rc;
  return num > maxIovas ? -EMSGSIZE : 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-ranges-efault-keeps-ioas-ref', profile, {
    handlers: { IOMMU_IOAS_IOVA_RANGES: (ucmd) => iovaRanges(ucmd) },
  });
}
