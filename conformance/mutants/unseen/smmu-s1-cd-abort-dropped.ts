/**
 * smmu-s1-cd-abort-dropped (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_make_s1_cd).
 *
 * The stage-1 context descriptor a paging domain is attached with says what
 * the SMMU does with a transaction its translation terminates (a translation
 * or permission fault under the terminate model, CD.S = 0):
 *     target->data[0] = cpu_to_le64(
 *             FIELD_PREP(CTXDESC_CD_0_TCR_T0SZ, tcr->tsz) | ...
 *             CTXDESC_CD_0_AA64 |
 *             (master->stall_enabled ? CTXDESC_CD_0_S : 0) |
 *             CTXDESC_CD_0_R |
 *             CTXDESC_CD_0_A |
 *             CTXDESC_CD_0_ASET |
 *             CTXDESC_CD_0_V | FIELD_PREP(CTXDESC_CD_0_ASID, cd->asid));
 * CD.R records the fault event, CD.A = 1 aborts the transaction back to the
 * device. The fault loses CTXDESC_CD_0_A (a rework of the CD builder that
 * kept R but not A): with A = 0 the SMMU completes a terminated transaction
 * with RAZ/WI behaviour — reads return zeros, writes are silently dropped —
 * and the event is still recorded, but the device sees success.
 *
 * Consequence: on an SMMUv3 paging domain, a DMA to an IOVA the IOAS does not
 * map (never mapped, or unmapped while the device still uses it), or a write
 * through a read-only mapping, completes without an error: the device reads
 * zeros as if they were data and believes its writes landed. The page outside
 * the IOAS is not reached, but the fault is no longer reported to the device
 * (nor to a VMM relying on it). Blocked devices (STE abort) still fault.
 *
 * Applied as: DMA of a device behind the SMMUv3 unit attached to a paging
 * domain: pieces the walk terminates (unmapped, permission) read as zeros and
 * discard writes; the translated pieces move as usual; the access reports
 * success with `touched` listing only what was really reached.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwTranslate, minPgsize } from '../../../impl/platform/hw.ts';
import type { DmaOutcome, Machine } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type Dma = Machine['dma'];
type Touched = { touched(pieces: readonly { pa: number; n: number }[]): { buffer: number; offset: number; length: number }[] };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-s1-cd-abort-dropped', profile, {
    machine: (m) => {
      patchOwn(m, 'dma', (dma: Dma): Dma => (handle, iova, dir, data, length, pasid) => {
        const dev = m.device(handle);
        if (!dev || dev.iommu.driver.name !== 'smmuv3') return dma(handle, iova, dir, data, length, pasid);
        const domain = dev.group.domain;
        if (pasid !== undefined || domain.type !== 'paging' || !domain.hw) return dma(handle, iova, dir, data, length, pasid);
        const len = dir === 'write' ? (data?.length ?? 0) : length;
        if (len === 0 || iova < 0n || iova + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) return dma(handle, iova, dir, data, length, pasid);
        const start = Number(iova);
        const granule = Math.min(2048, minPgsize(domain.pgsizeBitmap));
        const pieces: { pa: number; off: number; n: number }[] = [];
        let terminated = false;
        for (let off = 0; off < len; ) {
          const cur = start + off;
          const n = Math.min(granule - (cur % granule), len - off);
          const t = hwTranslate(dev.iommu.hw, dev.handle, cur, dir === 'write');
          if (t.ok) pieces.push({ pa: t.pa, off, n });
          else if (t.fault === 'blocked') return { ok: false, fault: 'blocked' };
          else terminated = true; // THE FAULT: CD.A = 0, the terminated piece is RAZ/WI
          off += n;
        }
        if (!terminated) return dma(handle, iova, dir, data, length, pasid);
        const out = dir === 'read' ? new Uint8Array(len) : undefined;
        for (const p of pieces) {
          if (out) out.set(m.memory.u8.subarray(p.pa, p.pa + p.n), p.off);
          else if (data) m.memory.u8.set(data.subarray(p.off, p.off + p.n), p.pa);
        }
        const touched = (m as unknown as Touched).touched(pieces);
        const res: DmaOutcome = { ok: true, ...(out ? { data: out } : {}), touched };
        return res;
      });
    },
  });
}
