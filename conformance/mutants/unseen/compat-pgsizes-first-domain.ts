/**
 * R19-C3 — compat-pgsizes-first-domain (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_get_pagesizes, behind the type1 VFIO_IOMMU_GET_INFO; 6.12 and 7.3
 * alike).
 *
 * A VFIO type1 container reports in iova_pgsizes the IO page sizes every
 * domain behind it can map, the way type1 itself does
 * (vfio_update_pgsize_bitmap: the AND over its domain list). iommufd answers it
 * for the compat IOAS from every iommu_domain the IOAS feeds:
 *
 *     static unsigned long iommufd_get_pagesizes(struct iommufd_ioas *ioas)
 *     {
 *             struct io_pagetable *iopt = &ioas->iopt;
 *             unsigned long pgsize_bitmap = ULONG_MAX;
 *             struct iommu_domain *domain;
 *             unsigned long index;
 *
 *             down_read(&iopt->domains_rwsem);
 *             xa_for_each(&iopt->domains, index, domain)
 *                     pgsize_bitmap &= domain->pgsize_bitmap;
 *
 *             // See vfio_update_pgsize_bitmap()
 *             if (pgsize_bitmap & ~PAGE_MASK) {
 *                     pgsize_bitmap &= PAGE_MASK;
 *                     pgsize_bitmap |= PAGE_SIZE;
 *             }
 *             pgsize_bitmap = max(pgsize_bitmap, ioas->iopt.iova_alignment);
 *             up_read(&iopt->domains_rwsem);
 *             return pgsize_bitmap;
 *     }
 *
 * THE FAULT: the bitmap is taken from the IOAS's first domain only, the way
 * iopt code reads "the" domain where one is enough (iopt->domains is an
 * xarray filled from index 0, and xa_load(&iopt->domains, 0) is its first
 * entry):
 *
 *             domain = xa_load(&iopt->domains, 0);
 *             if (domain)
 *                     pgsize_bitmap = domain->pgsize_bitmap;
 *
 * With one domain (or domains of one kind) nothing changes, so the bug shows
 * only over several commands and two objects: devices of different IOMMU
 * units attached to the compat IOAS (their automatic HWPTs cannot be shared:
 * a VT-d unit without snoop control or with a 39-bit width gets its own
 * domain), or a user HWPT of another unit allocated on it, the first domain
 * having larger pages than a later one. VFIO_IOMMU_GET_INFO then reports page
 * sizes the later domain cannot map (a 1 GiB bit for a domain that stops at
 * 2 MiB), and keeps reporting them until the first domain goes away, when the
 * answer jumps to the next one's sizes — whatever the others support. A VMM
 * (QEMU's type1 container: bcontainer->pgsizes) passes iova_pgsizes on as the
 * page-size mask of a vIOMMU (virtio-iommu's page_size_mask) and uses it to
 * choose and check its mapping granularity, so the guest is told it may map
 * with pages that a domain of the container does not have.
 *
 * Applied as: VFIO_IOMMU_GET_INFO on an iommufd (the harness's `compat` hook)
 * is the reference's, then iova_pgsizes — always inside the copied minsz —
 * is rewritten in the user's struct with the faulty computation.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { offsetofend } from '../../../spec/uapi/layout.ts';
import { type IommufdIoas, PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_get_pagesizes with the first domain only (THE FAULT). */
function pagesizesFirstDomain(ioas: IommufdIoas): bigint {
  let bitmap = ULONG_MAX;
  const first = ioas.iopt.domains[0];
  if (first) bitmap = first.pgsizeBitmap;
  const P = BigInt(PAGE_SIZE);
  if (bitmap & (P - 1n)) {
    bitmap &= ~(P - 1n) & ULONG_MAX;
    bitmap |= P;
  }
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}


export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-pgsizes-first-domain', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc !== 0) return rc;
        const ioas = ctx.vfioIoas as IommufdIoas | null;
        if (!ioas || ioas.type !== 'IOAS') return rc;
        const info = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile));
        if (Math.min(d.size, info.layout.size) < offsetofend(ctx.profile, 'vfio_iommu_type1_info', 'iova_pgsizes')) return rc;
        info.set('iova_pgsizes', pagesizesFirstDomain(ioas));
        ctx.proc.copyToUser(arg + BigInt(info.offsetOf('iova_pgsizes')), info.fieldBytes('iova_pgsizes'));
        return rc;
      },
    },
  });
}
