/**
 * arm-init-pte-block-step-granule (drivers/iommu/io-pgtable-arm.c
 * __arm_lpae_init_pte, reached from arm_lpae_init_pte / __arm_lpae_map for
 * every map_pages call of an SMMUv3 domain, both profiles).
 *
 * map_pages may hand the driver several pages of one size at once; at the
 * level of that size __arm_lpae_init_pte writes num_entries consecutive PTEs,
 * the i-th one for paddr + i * (the size one entry of that level maps):
 *
 *     static void __arm_lpae_init_pte(struct arm_lpae_io_pgtable *data,
 *                                     phys_addr_t paddr, arm_lpae_iopte prot,
 *                                     int lvl, int num_entries, arm_lpae_iopte *ptep)
 *     {
 *             arm_lpae_iopte pte = prot;
 *             struct io_pgtable_cfg *cfg = &data->iop.cfg;
 *             size_t sz = ARM_LPAE_BLOCK_SIZE(lvl, data);
 *             ...
 *             for (i = 0; i < num_entries; i++)
 *                     ptep[i] = pte | paddr_to_iopte(paddr + i * sz, data);
 *
 * The fault steps the output address by the translation granule
 * (`size_t sz = ARM_LPAE_GRANULE(data);`), the size every other helper of the
 * file that walks PTE arrays uses. At the last level (4 KiB pages, by far the
 * common case and everything a 4 KiB-only test maps) the two are the same
 * size, so nothing changes there; only a run of two or more blocks written by
 * one call (2 MiB blocks at level 2 with the 4K granule) is affected: block i
 * gets paddr + i * 4 KiB instead of paddr + i * 2 MiB.
 *
 * Observable: an IOAS_MAP of physically contiguous, 2 MiB-aligned memory of at
 * least 4 MiB (two huge pages that happen to be adjacent in physical memory)
 * at a 2 MiB-aligned IOVA, with an SMMUv3 device attached: the iommu core asks
 * for 2 MiB x n, and the device's accesses through the second and later blocks
 * do not reach their own pages. The simulated walker takes the descriptor's
 * OA bits as written, so they land i * 4 KiB past the start of the first
 * block (a DMA write at iova + 2 MiB modifies buffer offset 4 KiB, a read
 * returns its bytes); an SMMU that ignores the block's RES0 bits 20:12 would
 * land on the first block itself. Either way the device reads and writes
 * pages mapped at other IOVAs, and never the ones the user mapped there.
 *
 * Applied as: each Arm LPAE table's arm_lpae_init_pte (initPte) is an own
 * property copy writing its leaves one by one with the granule step.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PT_ENTRY_OA, PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import { EEXIST } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The ArmLpaeTable internals arm_lpae_init_pte reads (protected/private in the reference). */
interface LpaeInternals {
  u32: Uint32Array;
  fmt: {
    entryType(lo: number, hi: number, level: number): number;
    writeLeaves(u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, itemLg2: number, level: number, aLo: number, aHi: number): void;
  };
  g: { granLg2: number; driver: string };
  itemLg2: Int32Array;
  itemSize: Float64Array;
  attrs: Int32Array;
  flush(pa: number, bytes: number): void;
  dropTable(w: number, level: number, va: number): void;
  initPte(iova: number, paddr: number, level: number, num: number, w: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-init-pte-block-step-granule', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as unknown as LpaeInternals | null | undefined;
      if (!pt || pt.g.driver !== 'io-pgtable-arm' || typeof pt.initPte !== 'function') return;
      patchOwn(pt, 'initPte', () => (iova: number, paddr: number, level: number, num: number, w: number): number => {
        const u = pt.u32;
        const f = pt.fmt;
        const size = pt.itemSize[level] as number;
        for (let i = 0; i < num; i++) {
          const lo = u[w + 2 * i] as number;
          const hi = u[w + 2 * i + 1] as number;
          if (lo === 0 && hi === 0) continue;
          const type = f.entryType(lo, hi, level);
          if (type === PT_ENTRY_OA) return -EEXIST;
          if (type === PT_ENTRY_TABLE) pt.dropTable(w + 2 * i, level, iova + i * size);
        }
        // __arm_lpae_init_pte
        const lg2 = pt.itemLg2[level] as number;
        const sz = 2 ** pt.g.granLg2; // THE FAULT: ARM_LPAE_GRANULE(data), not ARM_LPAE_BLOCK_SIZE(lvl, data)
        for (let i = 0; i < num; i++) f.writeLeaves(u, w + 2 * i, 1, paddr + i * sz, lg2, lg2, level, pt.attrs[0] as number, pt.attrs[1] as number);
        pt.flush(w * 4, num * 8);
        return 0;
      });
    },
  });
}
