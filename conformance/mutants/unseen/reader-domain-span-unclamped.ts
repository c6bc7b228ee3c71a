/**
 * reader-domain-span-unclamped (drivers/iommu/iommufd/pages.c
 * pfn_reader_fill_span, the reader behind iopt_area_fill_domain (a domain
 * joining an IOAS: attach, IOMMU_HWPT_ALLOC, MOCK_DOMAIN) and
 * iopt_area_fill_domains (IOMMU_IOAS_COPY into an IOAS that has domains)).
 *
 * One iopt_pages can sit behind several areas: IOMMU_IOAS_COPY makes new
 * areas over the source's iopt_pages, in another IOAS or the same one, and
 * each area that is filled into a domain is a node of pages->domains_itree.
 * The pfn reader takes the PFNs of an index already held that way from the
 * storage domain of an area holding it, instead of pinning again. A used span
 * of domains_itree is the union of several such areas, so the reader reads
 * from the first area it finds only as far as that area goes, and comes back
 * for the rest:
 *
 *     if (span->is_used == 2) {
 *             /*
 *              * Pull as many pages from the first domain we find in the
 *              * target span. If it is too small then we will be called again
 *              * and we'll find another area.
 *              *\/
 *             area = iopt_pages_find_domain_area(pfns->pages, start_index);
 *             if (WARN_ON(!area))
 *                     return -EINVAL;
 *
 *             /* The storage_domain cannot change without the pages mutex *\/
 *             batch_from_domain(
 *                     &pfns->batch, area->storage_domain, area, start_index,
 *                     min(iopt_area_last_index(area), span->last_used));
 *             return 0;
 *     }
 *
 * The fault reads to the end of the span (the min() dropped, the span being
 * taken for "the" area's range):
 *
 *             batch_from_domain(
 *                     &pfns->batch, area->storage_domain, area, start_index,
 *                     span->last_used);
 *
 * batch_from_domain() walks the IOVAs of the area it was given
 * (iova += PAGE_SIZE) with iommu_iova_to_phys() on its storage domain: past
 * the end of that area it reads whatever that domain maps at the following
 * IOVAs — another mapping's pages, or nothing (phys 0: PFN 0).
 *
 * It takes two areas of one iopt_pages that together cover a run of page
 * indexes the first of them (lowest index, then oldest) does not, both
 * filled into some domain, and then a third reader of that run: e.g. MAP a
 * buffer into IOAS A (no domain), COPY its first and second halves to two
 * unrelated IOVAs of IOAS B (with a device), then attach a device to A (or
 * a second domain to B, or COPY the whole range into a third IOAS with a
 * domain). The new domain maps the second half of A's range to the pages
 * B's domain has after the end of the first half's copy: A's device then
 * reads and writes another buffer of the process (or page 0) where the user
 * mapped its own, and the pages it should reach are not mapped at all.
 *
 * Applied as: every domain's map, while a domain is filled with an area
 * (iopt_area_fill_domain: an area with pages, the domain not yet in its
 * IOAS) or a COPY fills a new area (iopt_area_fill_domains: the area still
 * without pages, the pages one of the source IOAS's), is given the PFNs the
 * faulty reader reads: the used spans are computed from the pages' accesses
 * (access_itree, read from the xarray) and the filled areas over the same
 * iopt_pages in every IOAS of the process (domains_itree); the area found
 * for the start of a span is the one with the lowest first index, then the
 * oldest; its storage domain is its IOAS's first domain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, type IommufdIoas, type IoptArea, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const P = PAGE_SIZE;
const PB = BigInt(PAGE_SIZE);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** iopt_area_iova_to_index for an IOVA inside the area. */
function indexAt(area: IoptArea, iova: bigint): number {
  return Number((area.startByte + (iova - area.start)) / PB);
}

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Set<IommufdIoas>();
  /** Insertion order into pages->domains_itree (equal starts: the older node comes first). */
  const inserted = new WeakMap<IoptArea, number>();
  let nextSeq = 0;
  /** The iopt_pages an IOMMU_IOAS_COPY in progress takes its pieces from. */
  let copyPages: Set<IoptPages> | null = null;
  /** The faulty PFNs for the fill in progress (area, domain). */
  let cached: { area: IoptArea; domain: IommuDomain; wrong: Map<number, number> } | null = null;
  let inMap = false;

  /** Note the areas that entered (or left) a domains_itree since the last look. */
  const observe = (): void => {
    for (const ioas of ioases) {
      for (const area of ioas.iopt.areas) {
        if (area.pages && area.filled) {
          if (!inserted.has(area)) inserted.set(area, nextSeq++);
        } else inserted.delete(area);
      }
    }
  };

  /** The area being filled into `domain` by this map call, and its pages. */
  const findTarget = (domain: IommuDomain, iova: bigint, pa: number): { area: IoptArea; pages: IoptPages } | undefined => {
    const pfn = Math.floor(pa / P);
    for (const ioas of ioases) {
      if (!(ioas.iopt.domains as unknown[]).includes(domain)) continue;
      // iopt_area_fill_domains: a new area (pages not yet set) of an IOAS the domain is in.
      if (!copyPages) return undefined; // a MAP's pages are new: nothing else holds them
      const area = ioas.iopt.areas.find((a) => a.pages === null && a.start <= iova && a.last >= iova);
      if (!area) return undefined;
      const j = indexAt(area, iova);
      for (const pages of copyPages) if (pages.pinnedPfn(j) === pfn) return { area, pages };
      return undefined;
    }
    // iopt_fill_domain: the domain joins an IOAS; the area is one of its populated areas.
    for (const ioas of ioases) {
      for (const area of ioas.iopt.areas) {
        if (!area.pages || area.start > iova || area.last < iova) continue;
        if (area.pages.pinnedPfn(indexAt(area, iova)) === pfn) return { area, pages: area.pages };
      }
    }
    return undefined;
  };

  /** What batch_from_domain reads for index j through `area`'s storage domain (j past the area). */
  const readThrough = (area: IoptArea, j: number): number => {
    const storage = area.iopt.domains[0] as unknown as IommuDomain | undefined;
    const iova = area.start - BigInt(area.pageOffset) + BigInt(j - area.firstIndex) * PB;
    if (!storage || iova > MAX_SAFE) return 0;
    const phys = storage.iovaToPhys(Number(iova));
    return phys < 0 ? 0 : Math.floor(phys / P); // iommu_iova_to_phys() of nothing is 0
  };

  /** The PFNs the faulty reader gets wrong for `area` (index -> PFN), over its pages' spans. */
  const wrongPfns = (area: IoptArea, pages: IoptPages): Map<number, number> => {
    observe();
    const wrong = new Map<number, number>();
    const first = area.firstIndex;
    const last = area.lastIndex;
    const holders: IoptArea[] = [];
    for (const ioas of ioases) for (const a of ioas.iopt.areas) if (a.pages === pages && a.filled && a.firstIndex <= last && a.lastIndex >= first) holders.push(a);
    if (holders.length < 2) return wrong; // one holder's span never reaches past it
    // interval_tree_double_span_iter over access_itree (first) and domains_itree.
    const n = last - first + 1;
    const cls = new Uint8Array(n);
    for (const a of holders) for (let i = Math.max(a.firstIndex, first); i <= Math.min(a.lastIndex, last); i++) cls[i - first] = 2;
    for (const x of pages.accesses) for (let i = Math.max(x.start, first); i <= Math.min(x.last, last); i++) cls[i - first] = 1;
    let i = 0;
    while (i < n) {
      if (cls[i] !== 2) {
        i++;
        continue;
      }
      let b = i;
      while (b + 1 < n && cls[b + 1] === 2) b++;
      const startIndex = first + i;
      const lastUsed = first + b;
      // iopt_pages_find_domain_area: the first node of domains_itree holding start_index.
      let found: IoptArea | undefined;
      for (const a of holders) {
        if (a.firstIndex > startIndex || a.lastIndex < startIndex) continue;
        if (!found || a.firstIndex < found.firstIndex || (a.firstIndex === found.firstIndex && (inserted.get(a) ?? 0) < (inserted.get(found) ?? 0))) found = a;
      }
      // THE FAULT: read through `found` up to span->last_used, not min(its last index, last_used).
      if (found) {
        for (let j = found.lastIndex + 1; j <= lastUsed; j++) {
          const pfn = readThrough(found, j);
          if (pfn !== pages.pinnedPfn(j)) wrong.set(j, pfn);
        }
      }
      i = b + 1;
    }
    return wrong;
  };

  return mutantImplementation('reader-domain-span-unclamped', profile, {
    object: (obj) => {
      if (obj?.type === 'IOAS') ioases.add(obj as IommufdIoas);
    },
    handlers: {
      IOMMU_IOAS_COPY: (ucmd, original) => {
        const src = ucmd.ctx.objects.load(ucmd.cmd.num('src_ioas_id'));
        const set = new Set<IoptPages>();
        if (src?.type === 'IOAS') for (const a of (src as IommufdIoas).iopt.areas) if (a.pages) set.add(a.pages);
        copyPages = set;
        try {
          return original(ucmd);
        } finally {
          copyPages = null;
        }
      },
    },
    domain: (d) => {
      const domain = d;
      patchOwn(domain, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number): number => {
        if (inMap) return map(iova, pa, size, prot);
        const target = findTarget(domain, iova, pa);
        if (!target) return map(iova, pa, size, prot);
        if (!cached || cached.area !== target.area || cached.domain !== domain) cached = { area: target.area, domain, wrong: wrongPfns(target.area, target.pages) };
        const wrong = cached.wrong;
        if (wrong.size === 0) return map(iova, pa, size, prot);
        // batch_to_domain of the batch the faulty reader filled.
        const pieces: { iova: bigint; pa: number; len: number }[] = [];
        let off = 0;
        while (off < size) {
          const x = iova + BigInt(off);
          const byte = target.area.startByte + (x - target.area.start);
          const j = Number(byte / PB);
          const o = Number(byte % PB);
          const len = Math.min(P - o, size - off);
          const w = wrong.get(j);
          const p = w === undefined ? pa + off : w * P + o;
          const top = pieces[pieces.length - 1];
          if (top && top.pa + top.len === p) top.len += len;
          else pieces.push({ iova: x, pa: p, len });
          off += len;
        }
        inMap = true;
        try {
          let done = 0;
          for (const pc of pieces) {
            const rc = map(pc.iova, pc.pa, pc.len, prot);
            if (rc) {
              if (done) domain.unmap(iova, done);
              return rc;
            }
            done += pc.len;
          }
          return 0;
        } finally {
          inMap = false;
        }
      });
    },
    request: (req, next) => {
      const res = next(req);
      cached = null;
      observe();
      return res;
    },
  });
}
