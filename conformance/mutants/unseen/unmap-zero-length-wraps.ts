/**
 * unmap-zero-length-wraps (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova).
 *
 * iopt_unmap_iova turns (iova, length) into the inclusive range it unmaps:
 *     if (!length)
 *             return -EINVAL;
 *     if (check_add_overflow(iova, length - 1, &iova_last))
 *             return -EOVERFLOW;
 *     return iopt_unmap_iova_range(iopt, iova, iova_last, unmapped);
 * The fault drops the zero-length test (the overflow check looks as if it
 * covered every bad length). With length 0, `length - 1` wraps to ULONG_MAX:
 * for iova 0 the sum does not overflow and iova_last becomes ULONG_MAX; for
 * any other iova it overflows and the answer is EOVERFLOW instead of EINVAL.
 *
 * Consequence: IOMMU_IOAS_UNMAP {iova = 0, length = 0} — a no-op a VMM can
 * easily pass on (a guest's empty unmap, an empty region) — is no longer
 * refused: it unmaps *every* area of the IOAS and reports the bytes unmapped,
 * exactly as the unmap-all form (0, U64_MAX) does. DMA that the user still
 * relies on (other regions, other devices of the IOAS) starts faulting, and
 * accesses get their unmap callbacks for ranges never asked for. The VFIO
 * type1 compat path (VFIO_IOMMU_UNMAP_DMA without VFIO_DMA_UNMAP_FLAG_ALL,
 * size 0) goes through the same function and wipes the container too.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA with a zero length
 * run a copy of the reference's handler whose iopt_unmap_iova lacks the test
 * (C unsigned arithmetic); every other call is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { ioptCutIova, ioptUnmapIovaRange } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IommufdCtx, type IommufdIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { EFAULT, ENODEV, ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';

/** iopt_unmap_iova without `if (!length) return -EINVAL`. */
function unmapIovaNoLengthCheck(iopt: IoPagetable, iova: bigint, length: bigint, unmapped: { bytes: bigint }): number {
  // THE FAULT: the zero-length test is gone; length - 1 wraps (unsigned long).
  const lengthMinusOne = BigInt.asUintN(64, length - 1n);
  const last = iova + lengthMinusOne;
  if (last > ULONG_MAX) return -EOVERFLOW; // check_add_overflow
  return ioptUnmapIovaRange(iopt, iova, last, unmapped);
}

/** iommufd_vfio_unmap_dma for size 0 (no VFIO_DMA_UNMAP_FLAG_ALL), over the faulty iopt_unmap_iova. */
function vfioUnmapDmaZero(ctx: IommufdCtx, d: CompatDecode, arg: bigint, original: () => number): number {
  const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL || flags & VFIO_DMA_UNMAP_FLAG_ALL || unmap.big('size') !== 0n) return original();
  const ioas = ctx.vfioIoas as IommufdIoas | null;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  const iopt = ioas.iopt;
  const iova = unmap.big('iova');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (iopt.disableLargePages) {
    const iovas = [BigInt.asUintN(64, iova - 1n), BigInt.asUintN(64, iova - 1n)];
    rc = ioptCutIova(iopt, iova ? iovas : iovas.slice(0, 1));
    if (rc) return rc;
  }
  rc = unmapIovaNoLengthCheck(iopt, iova, 0n, unmapped);
  unmap.set('size', unmapped.bytes);
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-zero-length-wraps', profile, {
    handlers: {
      // iommufd_ioas_unmap
      IOMMU_IOAS_UNMAP: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.big('length') !== 0n) return original(ucmd);
        const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (r.errno) return r.errno;
        const iova = cmd.big('iova');
        if (iova >= ULONG_MAX) return -EOVERFLOW;
        const unmapped = { bytes: 0n };
        const rc = unmapIovaNoLengthCheck(r.value!.iopt, iova, 0n, unmapped);
        if (rc) return rc;
        if (!unmapped.bytes) return -ENOENT;
        cmd.set('length', unmapped.bytes);
        return iommufdUcmdRespond(ucmd);
      },
    },
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg, original) => vfioUnmapDmaZero(ctx, d, arg, original),
    },
  });
}
