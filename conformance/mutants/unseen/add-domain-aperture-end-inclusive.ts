/**
 * add-domain-aperture-end-inclusive
 *
 * Kernel: drivers/iommu/iommufd/io_pagetable.c, iopt_table_add_domain():
 *
 *	/* No area exists that is outside the allowed domain aperture *\/
 *	if (geometry->aperture_start != 0) {
 *		rc = iopt_reserve_iova(iopt, 0, geometry->aperture_start - 1,
 *				       domain);
 *		if (rc)
 *			goto out_reserved;
 *	}
 *	if (geometry->aperture_end != ULONG_MAX) {
 *		rc = iopt_reserve_iova(iopt, geometry->aperture_end + 1,
 *				       ULONG_MAX, domain);
 *		if (rc)
 *			goto out_reserved;
 *	}
 *
 * The fault reserves from `geometry->aperture_end` instead of
 * `aperture_end + 1`, treating the inclusive aperture_end as exclusive (the
 * mirror of the aperture_start - 1 just above): the last byte (so the last
 * page) of the domain's aperture becomes reserved for the domain's lifetime.
 *
 * Observable: with a paging domain attached, IOAS_IOVA_RANGES' last usable
 * range ends one byte short (aperture_end - 1); a fixed map of the top page of
 * the aperture is refused (EINVAL, reserved) where the kernel maps it; and an
 * existing mapping of that page makes the attach fail with EADDRINUSE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { type IoPagetable, type IoptDomain, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { watchDomainAdds } from './_domain_add.ts';

export function createAdapter(profile: Profile): Implementation {
  const watch = watchDomainAdds<IoPagetable | undefined>(() => undefined);
  const patched = new WeakSet<object>();
  return mutantImplementation('add-domain-aperture-end-inclusive', profile, {
    object: watch.object,
    domain: (d) => {
      if (patched.has(d)) return;
      patched.add(d);
      const proto = Object.getPrototypeOf(d) as object;
      const desc = Object.getOwnPropertyDescriptor(proto, 'apertureEnd');
      const read = (): bigint => (desc?.get ? (desc.get.call(d) as bigint) : (d as unknown as IoptDomain).apertureEnd);
      // While iopt_table_add_domain runs for this domain, its aperture_end reads one lower:
      // the reservation then starts at aperture_end (the rest of the domain keeps the real one).
      Object.defineProperty(d, 'apertureEnd', {
        get: () => {
          const end = read();
          return watch.adding.has(d as unknown as IoptDomain) && end !== ULONG_MAX ? end - 1n : end;
        },
        configurable: true,
        enumerable: false,
      });
    },
  });
}
