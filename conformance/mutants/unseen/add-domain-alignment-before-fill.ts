/**
 * add-domain-alignment-before-fill (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_add_domain).
 *
 * A domain joining an IOAS raises the IOAS's iova_alignment to its smallest
 * IO page size, but only once it has really joined: the alignment is
 * checked against the existing areas first, and committed together with the
 * xa_store after the aperture reservations and iopt_fill_domain succeeded:
 *
 *     new_iova_alignment = max_t(unsigned long,
 *                                1UL << __ffs(domain->pgsize_bitmap),
 *                                iopt->iova_alignment);
 *     ...
 *     if (new_iova_alignment != iopt->iova_alignment) {
 *             rc = iopt_check_iova_alignment(iopt, new_iova_alignment);
 *             if (rc)
 *                     goto out_unlock;
 *     }
 *     ... iopt_reserve_iova (aperture) ... xa_reserve ... iopt_fill_domain ...
 *     iopt->iova_alignment = new_iova_alignment;
 *     xa_store(&iopt->domains, iopt->next_domain_id, domain, GFP_KERNEL);
 *
 * The fault commits the alignment as soon as it passed the check (moved up
 * "so the reservations and the fill run under the new alignment"), and the
 * error paths after it (out_release, out_reserved) do not restore it. An
 * attach that then fails — an area outside the new domain's aperture
 * (EADDRINUSE from the reservation), pages that cannot be pinned any more
 * (EFAULT after the user unmapped or protected them), RLIMIT_MEMLOCK
 * (ENOMEM), an allocation — leaves the IOAS with the alignment of a domain
 * it does not have.
 *
 * Consequence for a user: after a failed attach, an IOAS with no domain
 * (alignment 1) keeps reporting out_iova_alignment 2 KiB / 4 KiB in
 * IOMMU_IOAS_IOVA_RANGES and refuses maps and copies it must accept
 * (byte-granular lengths and IOVAs, automatic IOVAs for user addresses
 * aligned below it: EINVAL), until something recomputes the alignment (an
 * access joining or leaving, a domain leaving). State a failed command left
 * behind.
 *
 * Applied as: on every IOAS's io_pagetable, the domain lookup that starts
 * iopt_table_add_domain (the EEXIST test) is followed by the alignment
 * commit, when the new alignment passes iopt_check_iova_alignment.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, type IoptDomain, type IommufdIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

function minPgsize(bitmap: bigint): number {
  return Number(bitmap & -bitmap);
}

/** iopt_check_iova_alignment: every area conforms to the new alignment. */
function checkIovaAlignment(iopt: IoPagetable, newAlignment: number): boolean {
  const mask = BigInt(newAlignment - 1);
  return !iopt.areas.some((a) => a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask);
}

function install(iopt: IoPagetable): void {
  const domains = iopt.domains;
  const includes = domains.includes.bind(domains);
  Object.defineProperty(domains, 'includes', {
    configurable: true,
    enumerable: false,
    writable: true,
    // Only iopt_table_add_domain asks whether a domain is already in the table (its WARN_ON / EEXIST test).
    value: (domain: IoptDomain): boolean => {
      if (includes(domain)) return true;
      const newAlignment = Math.max(minPgsize(domain.pgsizeBitmap), iopt.iovaAlignment);
      if (newAlignment > PAGE_SIZE) return false;
      if (newAlignment !== iopt.iovaAlignment && !checkIovaAlignment(iopt, newAlignment)) return false;
      // THE FAULT: iopt->iova_alignment = new_iova_alignment before the reservations and iopt_fill_domain,
      // with no restore on their error paths.
      iopt.iovaAlignment = newAlignment;
      return false;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('add-domain-alignment-before-fill', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      install((obj as IommufdIoas).iopt);
    },
  });
}
