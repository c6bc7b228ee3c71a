/**
 * remove-domain-keeps-aperture-resv (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_remove_domain).
 *
 * A paging domain that joins an IOAS (iopt_table_add_domain) reserves, owned
 * by the domain, every IOVA outside its aperture so that no area can be
 * placed where the domain cannot translate:
 *
 *     if (geometry->aperture_start != 0) {
 *             rc = iopt_reserve_iova(iopt, 0, geometry->aperture_start - 1,
 *                                    domain);
 *     ...
 *     if (geometry->aperture_end != ULONG_MAX) {
 *             rc = iopt_reserve_iova(iopt, geometry->aperture_end + 1,
 *                                    ULONG_MAX, domain);
 *
 * and when it leaves (its HWPT destroyed, the last device of an auto domain
 * detached, an allocation unwound) the kernel gives that space back:
 *
 *     iopt_unfill_domain(iopt, domain);
 *     __iopt_remove_reserved_iova(iopt, domain);
 *
 *     WARN_ON(iopt_calculate_iova_alignment(iopt));
 *
 * The fault: the release step is lost from iopt_table_remove_domain (a
 * cleanup dropped while reworking the function; only the add path's own
 * out_reserved unwind still releases). Nothing fails when the domain goes:
 * its reservation nodes simply stay in reserved_itree, owned by a pointer to
 * a freed domain that no later removal will ever match (iopt_destroy_table
 * WARNs on them and leaks them with the IOAS).
 *
 * Plausible: the remove path has three steps of bookkeeping to undo in a
 * specific order, and nothing in the domain's own teardown would notice the
 * missing one; only the IOAS it leaves is affected.
 *
 * Observable, on the IOAS the domain left (a second object): after the
 * device that used a mock domain (aperture [16M, 2G)) or an x86 domain
 * (aperture ending at 2^39 or 2^48) is detached and its HWPT destroyed,
 * IOMMU_IOAS_IOVA_RANGES keeps reporting only the old aperture, fixed maps
 * below 16M or above the old aperture end fail with EINVAL, IOMMU_IOAS_ALLOW_IOVAS
 * over that space fails with EADDRINUSE, and automatic IOVAs are never
 * placed there — for the rest of the IOAS's life, even when it has no
 * domain at all or a later domain with a wider aperture.
 *
 * Applied on every IOAS's io_pagetable: the lookup that starts
 * iopt_table_remove_domain (the domain's index in the domains array) opens
 * the removal, and the reservation release that follows it is dropped.
 * iopt_table_add_domain's unwind and iopt_destroy_table release as the
 * reference does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptDomain, IommufdIoas, IoPagetable, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const installed = new WeakSet<IoPagetable>();

function install(iopt: IoPagetable): void {
  if (installed.has(iopt)) return;
  installed.add(iopt);
  /** Set by iopt_table_remove_domain's lookup until its __iopt_remove_reserved_iova. */
  let removing: IoptDomain | null = null;
  let reserved: ReservedRange[] = iopt.reserved;
  Object.defineProperty(iopt, 'reserved', {
    configurable: true,
    enumerable: true,
    get: () => reserved,
    set: (next: ReservedRange[]) => {
      if (removing) {
        const owner = removing;
        removing = null;
        // THE FAULT: __iopt_remove_reserved_iova(iopt, domain) is gone; only a write that
        // drops exactly the removed domain's ranges is that call, anything else goes through.
        const dropped = reserved.filter((r) => !next.includes(r));
        if (dropped.length && dropped.every((r) => r.owner === owner)) return;
      }
      reserved = next;
    },
  });
  patchOwn(iopt.domains, 'indexOf', (indexOf) => (domain: IoptDomain, from?: number) => {
    const i = indexOf(domain, from);
    removing = i >= 0 ? domain : null;
    return i;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-domain-keeps-aperture-resv', profile, {
    object: (obj) => {
      if (obj?.type === 'IOAS') install((obj as IommufdIoas).iopt);
    },
  });
}
