/**
 * syz-copy-conv-in-dst-ioas (drivers/iommu/iommufd/ioas.c iommufd_ioas_copy
 * → selftest.c iommufd_test_syz_conv_iova_id; reached only by IOMMU_IOAS_COPY
 * with MOCK_FLAGS_ACCESS_SYZ in flags; 6.12 and 7.3).
 *
 * The kernel's code (ioas.c, iommufd_ioas_copy, both profiles):
 *
 *     iommufd_test_syz_conv_iova_id(ucmd, cmd->src_ioas_id, &cmd->src_iova,
 *                                   &cmd->flags);
 *
 * and (selftest.c):
 *
 *     void iommufd_test_syz_conv_iova_id(struct iommufd_ucmd *ucmd,
 *                                        unsigned int ioas_id, u64 *iova, u32 *flags)
 *     {
 *             ...
 *             if (!(*flags & MOCK_FLAGS_ACCESS_SYZ))
 *                     return;
 *             *flags &= ~(u32)MOCK_FLAGS_ACCESS_SYZ;
 *             ioas = iommufd_get_ioas(ucmd->ictx, ioas_id);
 *             if (IS_ERR(ioas))
 *                     return;
 *             *iova = __iommufd_test_syz_conv_iova(&ioas->iopt, iova);
 *             ...
 *     }
 *
 * syzkaller's { u32 nth_area; u32 offset } encoding of src_iova is decoded
 * against the areas of the SOURCE IOAS: the copy then reads the pages of the
 * source's nth area.
 *
 * THE FAULT passes the wrong id (the copy has two IOAS ids side by side, and
 * the destination is the one the rest of the function "works on"):
 *
 *     iommufd_test_syz_conv_iova_id(ucmd, cmd->dst_ioas_id, &cmd->src_iova,
 *                                   &cmd->flags);
 *
 * so the encoded source IOVA becomes "start of the destination's nth area +
 * offset" (or 0 when the destination has no such area) and that IOVA is then
 * looked up in the source IOAS. Observable: when src and dst differ, a SYZ
 * copy the kernel performs fails with ENOENT (nothing mapped at that IOVA of
 * the source), or — when the source happens to map that IOVA — succeeds but
 * copies the pages of a different area: the destination then maps (and DMA
 * through its domains reaches) memory the kernel would not have put there,
 * and the pins land on other pages. With src == dst, or without the SYZ flag,
 * it answers as the kernel does.
 *
 * Applied as: IOMMU_IOAS_COPY with the SYZ flag decodes src_iova against
 * dst_ioas_id (and clears the flag) before the reference's own
 * iommufd_ioas_copy runs, which then sees no SYZ flag.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** __iommufd_test_syz_conv_iova: the nth area's start plus offset, or 0. */
function syzConvIovaInIopt(iopt: IoPagetable, iova: bigint): bigint {
  const nth = Number(BigInt.asUintN(32, iova));
  const offset = BigInt.asUintN(32, iova >> 32n);
  const area = iopt.areas[nth];
  return area ? area.start + offset : 0n;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('syz-copy-conv-in-dst-ioas', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const flags = cmd.num('flags');
        if (flags & MOCK_FLAGS_ACCESS_SYZ) {
          cmd.set('flags', flags & ~MOCK_FLAGS_ACCESS_SYZ);
          // THE FAULT: the destination's id, not cmd->src_ioas_id.
          const r = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
          if (!r.errno) cmd.set('src_iova', syzConvIovaInIopt(r.value!.iopt, cmd.big('src_iova')));
        }
        return original(ucmd);
      },
    },
  });
}
