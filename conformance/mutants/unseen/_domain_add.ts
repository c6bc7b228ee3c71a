/**
 * Shared by the faults that act while a domain is being added to an IOAS
 * (iopt_table_add_domain, with its fill in progress): the add opens at its
 * first step, the EEXIST walk over the IOAS's domains, and closes when the
 * domain is stored in iopt->domains.
 */
import type { IommufdIoas, IoPagetable, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { type MutantHooks, patchOwn } from '../harness.ts';

/**
 * The adds in progress, each as `open` makes it from the IOAS and whether the
 * domain is its first, and the `object` hook that follows them on every IOAS.
 */
export function watchDomainAdds<T>(open: (iopt: IoPagetable, first: boolean) => T): { readonly adding: Map<IoptDomain, T>; readonly object: NonNullable<MutantHooks['object']> } {
  const adding = new Map<IoptDomain, T>();
  const object: NonNullable<MutantHooks['object']> = (obj) => {
    if (obj?.type !== 'IOAS') return;
    const iopt = (obj as IommufdIoas).iopt;
    patchOwn(iopt.domains, 'includes', (includes) => (domain: IoptDomain, from?: number) => {
      adding.set(domain, open(iopt, iopt.domains.length === 0));
      return includes(domain, from);
    });
    patchOwn(iopt.domains, 'push', (push) => (...items: IoptDomain[]) => {
      for (const d of items) adding.delete(d);
      return push(...items);
    });
  };
  return { adding, object };
}
