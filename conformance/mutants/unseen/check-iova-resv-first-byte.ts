/**
 * C8.1 — check-iova-resv-first-byte (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova).
 *
 * A fixed-IOVA map must not intersect any reserved range:
 *     if (iopt_reserved_iter_first(iopt, iova, last))
 *             return -EINVAL;
 * The fault looks the reserved tree up for the first byte only
 * (iopt_reserved_iter_first(iopt, iova, iova)), as a copy of the area test
 * written for a point lookup would. A MAP, COPY or type1 MAP_DMA whose range
 * starts below a reserved range and runs over it is accepted: user memory is
 * mapped over a device's software MSI window (the interrupt doorbell the MSI
 * cookie puts there) or over any other reserved region of an attached device,
 * so the device's DMA to that window reaches user pages instead of being
 * refused, and the IOAS holds an area inside its own reserved tree.
 *
 * Applied as: during a fixed-IOVA IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / type1
 * VFIO_IOMMU_MAP_DMA, the target IOAS's reserved ranges that intersect the
 * new range without containing its first byte are hidden from the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA } from '../../../spec/uapi/constants.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import type { IommufdCtx, IommufdIoas, IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { getU64 } from '../../../spec/abi/le.ts';
import { mutantImplementation } from '../harness.ts';

function ioasOf(ctx: IommufdCtx, id: number): IommufdIoas | undefined {
  const o = ctx.objects.load(id);
  return o?.type === 'IOAS' ? (o as IommufdIoas) : undefined;
}

/** Run `fn` with the reserved ranges of `ioas` that [iova, iova+length-1] hits past its first byte hidden. */
function withFirstByteCheck<T>(ioas: IommufdIoas | undefined, iova: bigint, length: bigint, fn: () => T): T {
  if (!ioas || length === 0n || iova + length - 1n > ULONG_MAX) return fn();
  const iopt = ioas.iopt;
  const last = iova + length - 1n;
  const saved = iopt.reserved;
  // THE FAULT: iopt_reserved_iter_first(iopt, iova, iova).
  const seen = saved.filter((r) => !(r.start <= last && r.last >= iova) || (r.start <= iova && r.last >= iova));
  if (seen.length === saved.length) return fn();
  iopt.reserved = seen;
  try {
    return fn();
  } finally {
    // The map itself never changes the reserved tree; put back exactly what was there.
    if (iopt.reserved === seen) iopt.reserved = saved;
  }
}

const fixedOnly =
  (idField: string, iovaField: string) =>
  (ucmd: Ucmd, original: IoctlExecute): number => {
    const { cmd, ctx } = ucmd;
    if (!(cmd.num('flags') & IOMMU_IOAS_MAP_FIXED_IOVA)) return original(ucmd);
    return withFirstByteCheck(ioasOf(ctx, cmd.num(idField)), cmd.big(iovaField), cmd.big('length'), () => original(ucmd));
  };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('check-iova-resv-first-byte', profile, {
    handlers: {
      IOMMU_IOAS_MAP: fixedOnly('ioas_id', 'iova'),
      IOMMU_IOAS_COPY: fixedOnly('dst_ioas_id', 'dst_iova'),
    },
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d, _arg, original) => {
        const layout = layoutOf(d.command.struct ?? '', ctx.profile);
        const iova = getU64(d.bytes, layout.fields.get('iova')!.offset);
        const size = getU64(d.bytes, layout.fields.get('size')!.offset);
        const id = iommufdVfioCompatIoasGetId(ctx);
        return withFirstByteCheck(id.errno ? undefined : ioasOf(ctx, id.value!), iova, size, original);
      },
    },
  });
}
