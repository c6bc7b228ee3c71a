/**
 * M4 (VFIO type1 compat, GET_INFO): iommufd_vfio_iommu_get_info does not
 * zero its on-stack struct vfio_iommu_type1_info. copy_from_user fills only
 * minsz (offsetofend(iova_pgsizes)) bytes; cap_offset is assigned only when
 * the capability chain fits and pad never, so both go back to userspace as
 * kernel stack contents. Upstream: "iommufd: Make sure to zero
 * vfio_iommu_type1_info before copying to user" (Fixes: d624d6652a65).
 *
 * Emulated: after the reference answers, the stale stack words are written
 * over cap_offset (when the chain did not fit) and pad, within the
 * min(argsz, sizeof(info)) bytes the kernel copies back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';

const STACK = [0x81a3c0e8, 0xffff8881]; // a kernel pointer's halves, left on the stack

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-stack-leak', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc !== 0) return rc;
        const layout = layoutOf(d.command.struct ?? '', ctx.profile);
        const copied = Math.min(d.size, layout.size);
        const capOff = layout.fields.get('cap_offset')!.offset;
        const padOff = layout.fields.get('pad')!.offset;
        const le = (v: number): Uint8Array => new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
        if (copied >= capOff + 4) {
          const cur = ctx.proc.copyFromUser(arg + BigInt(capOff), 4);
          if (cur && cur.every((b) => b === 0)) ctx.proc.copyToUser(arg + BigInt(capOff), le(STACK[0]!));
        }
        if (copied >= padOff + 4) ctx.proc.copyToUser(arg + BigInt(padOff), le(STACK[1]!));
        return rc;
      },
    },
  });
}
