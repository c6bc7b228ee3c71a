/**
 * R22-B4 — amd612-grow-old-root-pde-level (drivers/iommu/amd/io_pgtable.c
 * increase_address_space(), 6.12; reached from alloc_pte() by
 * iommu_v1_map_pages() when a page lies above what the current top level
 * covers).
 *
 * An AMD v1 table grows one level at a time: a new top table is allocated,
 * its entry 0 becomes a PDE to the old root, and the new root and mode are
 * published under the pgtable seqcount. The PDE's NextLevel field must name
 * the level of the table it points to — the old root, whose level is the
 * old mode:
 *
 *     *pte = PM_LEVEL_PDE(pgtable->mode, iommu_virt_to_phys(pgtable->root));
 *
 *     write_seqcount_begin(&pgtable->seqcount);
 *     pgtable->root  = pte;
 *     pgtable->mode += 1;
 *     write_seqcount_end(&pgtable->seqcount);
 *
 * THE FAULT: the PDE store is moved into the seqcount section "so that the
 * new root and its first entry are published together", after the mode
 * update:
 *
 *     write_seqcount_begin(&pgtable->seqcount);
 *     pgtable->mode += 1;
 *     *pte = PM_LEVEL_PDE(pgtable->mode, iommu_virt_to_phys(pgtable->root));
 *     pgtable->root  = pte;
 *     write_seqcount_end(&pgtable->seqcount);
 *
 * so the PDE to the old root carries the new mode: one level too high.
 *
 * Why it needs several commands and two objects: nothing changes until a
 * map lands above the span of the current top (512 GiB for the 3-level
 * start of a 6.12 AMD v1 domain). That map succeeds (alloc_pte walks the
 * new top's other entries, which are right), and so do the IOVAs it maps.
 * But every later walk through entry 0 of the new top — everything the
 * domain mapped before, and every IOVA below the old span — meets a PDE
 * whose level is not the one expected ("No level skipping support yet"):
 *   - IOMMU_IOAS_MAP of another area below 512 GiB fails with ENOMEM
 *     (alloc_pte returns NULL), also through every other IOAS user of the
 *     domain (a second device's attach that fills it, IOMMU_IOAS_COPY);
 *   - IOMMU_IOAS_UNMAP of an area mapped before the growth returns success
 *     and unpins its pages, but fetch_pte finds nothing, so
 *     iommu_v1_unmap_pages unmaps nothing and its leaves stay in the table
 *     (what iommu_iova_to_phys / MD_CHECK_MAP and the IOTLB hold on to): the
 *     domain still translates those IOVAs to pages the user no longer
 *     pinned. (On the hardware the PDE's NextLevel is not below the level
 *     of the table holding it, so the walk takes an illegal-level fault and
 *     DMA to the old areas stops; the simulated walker, which descends by
 *     position, keeps translating them.)
 * The domain stays broken for the rest of its life: the tables never shrink.
 *
 * Applied as (6.12 only; 7.3's AMD v1 is generic_pt's increase_top): every
 * 6.12 AMD v1 paging domain grows through a copy of the reference's
 * increase_address_space whose PDE to the old root names the new top level.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { vaBitsAtTop } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The AmdLegacyTable internals increase_address_space uses (private/protected in the reference). */
interface AmdTable {
  increaseAddressSpace(): boolean;
  allocTable(level: number): number;
  freeTable(pa: number, order: number): void;
  writeTableEntry(w: number, level: number, childPa: number): void;
  flush(pa: number, bytes: number): void;
  setNumberLimits(): void;
  readonly winHi: number;
  readonly rootHw: number;
  root: number;
  topLevel: number;
  readonly g: IoPageTable['g'];
  readonly onChangeTop: IoPageTable['onChangeTop'];
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as AmdTable;
  patchOwn(t, 'increaseAddressSpace', () => () => {
    const tab = t.allocTable(t.topLevel + 1 <= t.g.maxTopLevel ? t.topLevel + 1 : t.topLevel);
    if (tab === 0) return false;
    if (t.topLevel + 1 > 5) {
      t.freeTable(tab, 0); // WARN_ON_ONCE(mode == PAGE_MODE_6_LEVEL)
      return false;
    }
    const nl = t.topLevel + 1;
    // THE FAULT: PM_LEVEL_PDE(pgtable->mode, ...) read after pgtable->mode += 1: the old
    // root's PDE names the new top's level (nl + 1 in these 0-based levels) instead of its own.
    t.writeTableEntry(tab >>> 2, nl + 1, t.root);
    t.flush(tab, 8);
    t.root = tab;
    t.topLevel = nl;
    t.g.topLevel = nl;
    t.g.vaBits = vaBitsAtTop(t.g, nl);
    if (t.winHi === 0) t.setNumberLimits();
    if (t.onChangeTop !== null) t.onChangeTop(t.rootHw, nl);
    return true;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-grow-old-root-pde-level', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'amd-612') patchTable(pt);
    },
  });
}
