/**
 * compat-pgsizes-subpage-fold-no-page-size (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_get_pagesizes, behind the type1 VFIO_IOMMU_GET_INFO; observable on
 * the 6.12 profile, whose selftest mock domains map 2 KiB pages only).
 *
 * An IOMMU whose smallest page is below PAGE_SIZE must still be reported as
 * mapping PAGE_SIZE, the granule pinning works at; type1 folds the sub-page
 * sizes into PAGE_SIZE (vfio_update_pgsize_bitmap) and iommufd copies that:
 *
 *     xa_for_each(&iopt->domains, index, domain)
 *             pgsize_bitmap &= domain->pgsize_bitmap;
 *
 *     // See vfio_update_pgsize_bitmap()
 *     if (pgsize_bitmap & ~PAGE_MASK) {
 *             pgsize_bitmap &= PAGE_MASK;
 *             pgsize_bitmap |= PAGE_SIZE;
 *     }
 *     pgsize_bitmap = max(pgsize_bitmap, ioas->iopt.iova_alignment);
 *
 * THE FAULT: the fold only hides the sub-page sizes, `pgsize_bitmap |=
 * PAGE_SIZE;` is lost (read as "mask out what we cannot pin"). Hardware with
 * 4 KiB in its bitmap is unaffected (AMD, VT-d, SMMU, 7.3's AMDv1 mock from
 * 2 KiB up). A domain whose bitmap has a sub-page size but not PAGE_SIZE —
 * 6.12's mock domain: MOCK_IO_PAGE_SIZE (2 KiB), plus the 1 MiB
 * MOCK_HUGE_PAGE_SIZE with MOCK_FLAGS_DEVICE_HUGE_IOVA — loses its smallest
 * reported size: the result falls back to iova_alignment (2 KiB: a page size
 * below PAGE_SIZE, which type1 never reports) for a plain mock domain, or to
 * 1 MiB alone for a huge-IOVA one, so a VMM is told it cannot map anything
 * smaller than 1 MiB. Under SET_IOMMU(TYPE1) (large pages disabled,
 * iova_alignment = PAGE_SIZE) the 2 KiB case is masked again by the max().
 *
 * Observable: VFIO_IOMMU_GET_INFO iova_pgsizes on a compat IOAS feeding a 6.12
 * mock domain is 0x800 (or 0x100000 with a huge-IOVA mock device) instead of
 * 0x1000 (0x101000).
 *
 * Applied as: the reference's VFIO_IOMMU_GET_INFO, then iova_pgsizes — always
 * inside the copied minsz — rewritten in the user's struct with the faulty
 * computation.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { offsetofend } from '../../../spec/uapi/layout.ts';
import { type IommufdIoas, PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_get_pagesizes without the `|= PAGE_SIZE` of the sub-page fold (THE FAULT). */
function pagesizesNoPageSize(ioas: IommufdIoas): bigint {
  let bitmap = ULONG_MAX;
  for (const d of ioas.iopt.domains) bitmap &= d.pgsizeBitmap;
  const P = BigInt(PAGE_SIZE);
  if (bitmap & (P - 1n)) {
    bitmap &= ~(P - 1n) & ULONG_MAX;
    // pgsize_bitmap |= PAGE_SIZE;  -- lost
  }
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-pgsizes-subpage-fold-no-page-size', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc !== 0) return rc;
        const ioas = ctx.vfioIoas as IommufdIoas | null;
        if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return rc;
        const info = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile));
        if (Math.min(d.size, info.layout.size) < offsetofend(ctx.profile, 'vfio_iommu_type1_info', 'iova_pgsizes')) return rc;
        info.set('iova_pgsizes', pagesizesNoPageSize(ioas));
        ctx.proc.copyToUser(arg + BigInt(info.offsetOf('iova_pgsizes')), info.fieldBytes('iova_pgsizes'));
        return rc;
      },
    },
  });
}
