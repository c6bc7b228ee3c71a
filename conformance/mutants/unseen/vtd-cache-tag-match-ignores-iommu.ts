/**
 * vtd-cache-tag-match-ignores-iommu (drivers/iommu/intel/cache.c
 * cache_tage_match, called by cache_tag_assign / cache_tag_unassign).
 *
 * A VT-d paging domain keeps one cache tag per (IOMMU, DID[, PASID]) it is
 * attached through; cache_tag_flush_range (the unmap's iotlb_sync) walks
 * that list and sends the PSI/DSI to each tag's IOMMU. When a device is
 * attached, cache_tag_assign reuses an existing tag only if it matches:
 *     if (tag->domain_id != domain_id || tag->pasid != pasid)
 *             return false;
 *     if (type == CACHE_TAG_IOTLB || type == CACHE_TAG_NESTING_IOTLB)
 *             return tag->iommu == iommu;
 * The fault drops the IOMMU comparison for IOTLB tags (return true): the
 * second IOMMU a domain is attached through, when its DID there has the same
 * number as on the first (the common case: each unit hands out DIDs lowest
 * first from its own IDA), only bumps `users` of the first IOMMU's tag. The
 * second IOMMU never gets a tag of its own, so every later flush of the
 * domain (unmap, table free) reaches only the first IOMMU. Detaching a
 * device still flushes its own IOMMU (device_block_translation /
 * intel_pasid_tear_down_entry issue a DSI for the old DID directly), and so
 * does freeing the domain.
 *
 * Consequence: one HWPT (an IOAS's automatic domain is shared by vtd0 and
 * vtd2 devices) attached to devices behind two DMAR units. While both stay
 * attached, IOMMU_IOAS_UNMAP leaves the translations the second unit's
 * device has cached alive in that unit's IOTLB: the device keeps reading and
 * writing the unmapped (and unpinned) pages, or the old pages behind an IOVA
 * that has been mapped again to something else.
 *
 * Applied as: the units of the intel driver (one shared cache model in the
 * reference) get a cache of their own for a domain whose tag list does not
 * name them; that cache is filled by their devices' translations and emptied
 * only by the detach of one of their devices from the domain or by the
 * domain's destruction — never by the domain's range flushes. The unit's
 * `iotlb` observation lists it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type SetGroupDomain = { setGroupDomain(g: IommuGroup, domain: IommuDomain): void };
type IotlbObs = { iotlb(name: string): { tag: string; iova: bigint; pa: bigint; size: number; perm: string }[] | undefined };

interface CacheTag {
  readonly unit: string;
  users: number;
}
interface Entry {
  readonly leafVa: number;
  readonly size: number;
  readonly leafPa: number;
  readonly perm: number;
}
const CAP = 4096;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-cache-tag-match-ignores-iommu', profile, {
    machine: (m: Machine) => {
      const units = [...m.instances.values()].filter((i) => i.driver.name === 'intel');
      if (units.length === 0) return;
      const hw = units[0]!.hw;
      /** domain->cache_tags (IOTLB tags only). */
      const tags = new Map<HwDomain, CacheTag[]>();
      /** What each stream id is attached to, and through which unit. */
      const ctxOf = new Map<number, { domain: HwDomain; unit: string }>();
      const unitOfSid = new Map<number, string>();
      /** Per unit: translations cached for domains whose tag list does not name the unit. */
      const own = new Map<string, Map<string, Entry>>();
      const labels = new Map<number, string>();
      const cacheOf = (unit: string): Map<string, Entry> => {
        let c = own.get(unit);
        if (!c) own.set(unit, (c = new Map()));
        return c;
      };
      const flushTagOn = (unit: string, tag: number): void => {
        const c = own.get(unit);
        if (!c) return;
        for (const k of [...c.keys()]) if (k.startsWith(`${tag}:`)) c.delete(k);
      };

      patchOwn(m as unknown as SetGroupDomain, 'setGroupDomain', (set) => (g, domain) => {
        if (domain.hw) labels.set(domain.hw.tag, `${domain.format}#${domain.tag}`);
        for (const dev of g.devices) unitOfSid.set(dev.handle, g.iommu.name);
        set(g, domain);
      });

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = ctxOf.get(key);
        const unit = unitOfSid.get(sid) ?? prev?.unit ?? '?';
        const rc = attach(sid, domain, pasid);
        if (rc !== 0) return rc;
        if (prev !== undefined) {
          // device_block_translation: the old DID is flushed on the device's own IOMMU ...
          flushTagOn(prev.unit, prev.domain.tag);
          // ... and cache_tag_unassign drops the first tag that "matches" (the fault: any IOMMU).
          const list = tags.get(prev.domain);
          if (list && list.length > 0) {
            const t = list[0]!;
            if (--t.users === 0) list.splice(list.indexOf(t), 1);
            if (list.length === 0) tags.delete(prev.domain);
          }
          ctxOf.delete(key);
        }
        if (domain !== null) {
          const list = tags.get(domain) ?? [];
          tags.set(domain, list);
          // cache_tag_assign: THE FAULT — an existing tag with the same DID matches whatever its IOMMU.
          if (list.length > 0) list[0]!.users++;
          else list.push({ unit, users: 1 });
          ctxOf.set(key, { domain, unit });
        }
        return rc;
      });

      patchOwn(hw, 'translate', (translate) => (sid: number, iova: number, access: number, pasid = 0) => {
        const c = ctxOf.get(sid * 1048576 + pasid);
        if (c === undefined || c.domain.pt === null) return translate(sid, iova, access, pasid);
        const list = tags.get(c.domain);
        if (list !== undefined && list.some((t) => t.unit === c.unit)) return translate(sid, iova, access, pasid);
        // The unit has no tag for this domain: its IOTLB is never flushed by the domain's range flushes.
        const cache = cacheOf(c.unit);
        const k = `${c.domain.tag}:${Math.floor(iova / 4096)}`;
        const e = cache.get(k);
        if (e !== undefined && iova >= e.leafVa && iova - e.leafVa < e.size && (e.perm & access) === access) return e.leafPa + (iova - e.leafVa);
        const pa = translate(sid, iova, access, pasid);
        if (pa >= 0) {
          const leaf = c.domain.lookupLeaf(iova);
          if (leaf !== null) {
            if (cache.size >= CAP) cache.delete(cache.keys().next().value as string);
            cache.set(k, { leafVa: leaf.iova, size: leaf.size, leafPa: leaf.pa, perm: leaf.prot & 3 });
          }
        }
        return pa;
      });

      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        forget(d);
        for (const u of own.keys()) flushTagOn(u, d.tag);
        tags.delete(d);
        for (const [k, c] of ctxOf) if (c.domain === d) ctxOf.delete(k);
      });

      patchOwn(m as unknown as IotlbObs, 'iotlb', (iotlb) => (name: string) => {
        const out = iotlb(name);
        const c = own.get(name);
        if (out === undefined || c === undefined || c.size === 0) return out;
        const seen = new Set(out.map((e) => `${e.tag}:${e.iova}`));
        for (const [k, e] of c) {
          const tag = Number(k.slice(0, k.indexOf(':')));
          const label = labels.get(tag) ?? `#${tag}`;
          const id = `${label}:${BigInt(e.leafVa)}`;
          if (seen.has(id)) continue;
          seen.add(id);
          out.push({ tag: label, iova: BigInt(e.leafVa), pa: BigInt(e.leafPa), size: e.size, perm: `${e.perm & 1 ? 'r' : '-'}${e.perm & 2 ? 'w' : '-'}` });
        }
        const num = (t: string): number => Number(t.slice(t.lastIndexOf('#') + 1));
        return out.sort((a, b) => (a.tag === b.tag ? (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0) : num(a.tag) - num(b.tag)));
      });
    },
  });
}
