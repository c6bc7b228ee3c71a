/**
 * H8.7 — smmu-range-inv-counts-leaves (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * __arm_smmu_tlb_inv_range, ARM_SMMU_FEAT_RANGE_INV).
 *
 * A range TLBI counts translation granules: NUM/SCALE encode a number of
 * TG-sized pages (4 KiB here) from the address, and TTL only hints at the
 * leaf level:
 *     tg = __ffs(smmu_domain->domain.pgsize_bitmap);
 *     num_pages = size >> tg;
 *     cmd->tlbi.tg = (tg - 10) / 2;
 *     if (cmd->tlbi.leaf)
 *             cmd->tlbi.ttl = 4 - ((ilog2(granule) - 3) / (tg - 3));
 * The fault counts the pages in units of the gather's leaf size instead
 * (num_pages = size >> ilog2(granule), the granule the TTL computation just
 * used) while TG, and so the unit of NUM/SCALE, stays the translation
 * granule. For 4 KiB leaves nothing changes; once the gather holds a block
 * (2 MiB) the command covers size / 2 MiB granules of 4 KiB — one 4 KiB
 * page per 2 MiB of range.
 *
 * Consequence: an unmap of an area mapped with 2 MiB blocks invalidates only
 * the TLB entries overlapping its first few KiB: the first block goes (an
 * entry for a block overlaps any address inside it), every later block and
 * any 4 KiB tail stay cached, so after IOMMU_IOAS_UNMAP of a huge-page
 * backed area the device keeps reading and writing the unmapped, unpinned
 * pages beyond the first 2 MiB.
 *
 * Applied as: each SMMUv3 unit's range flush computes the page count from
 * the gather's page size.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { smmuRangeFlush } from './_smmu_range.ts';

// THE FAULT: size >> ilog2(granule), not size >> tg (NUM/SCALE still count TG pages).
const machine = smmuRangeFlush({ pages: (size, _tg, granuleLg2) => Math.max(1, Math.floor(size / 2 ** granuleLg2)) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-range-inv-counts-leaves', profile, { machine });
}
