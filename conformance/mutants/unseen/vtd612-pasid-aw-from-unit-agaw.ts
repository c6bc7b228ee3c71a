/**
 * vtd612-pasid-aw-from-unit-agaw — drivers/iommu/intel/pasid.c (6.12)
 * intel_pasid_setup_second_level(), which writes the scalable-mode PASID
 * entry (RID_PASID) every time a device is attached to a second-stage
 * domain: the table root and the address width the unit walks it with.
 * The domain's table may be shallower or deeper than the unit's AGAW (a
 * domain allocated for a device behind another DMAR unit); iommu_skip_agaw()
 * reconciles the two — it steps the root down past the extra top levels of
 * a deeper table and returns the depth the entry must carry:
 *
 *     pgd = domain->pgd;
 *     agaw = iommu_skip_agaw(domain, iommu, &pgd);
 *     if (agaw < 0) { ... return -EINVAL; }
 *
 *     pgd_val = virt_to_phys(pgd);
 *     did = domain_id_iommu(domain, iommu);
 *     ...
 *     pasid_set_slptr(pte, pgd_val);
 *     pasid_set_address_width(pte, agaw);
 *
 * THE FAULT: the width written is the unit's own,
 *
 *     pasid_set_address_width(pte, iommu->agaw);
 *
 * (the local agaw and iommu->agaw are equal for every domain allocated for a
 * device behind the same unit, which is what testing sees). For a domain
 * shallower than the unit — in 6.12 prepare_domain_attach_device() accepts a
 * domain whose mapped range fits the unit, and iommu_skip_agaw() then keeps
 * its root and its 3-level depth — the entry pairs the 3-level root with a
 * 4-level width, and the unit walks the table one level too deep: the top
 * table's entries are taken for PML4 entries, each lower table for the level
 * above it, the 4 KiB leaves for page-directory entries, and the user pages
 * behind them for page tables.
 *
 * Why it needs two devices behind two units and several commands: the
 * shallow domain has to come from a device behind the narrower unit (vtd1:
 * 39-bit, 3-level), and a device behind a wider unit (vtd0 or vtd2: 48-bit,
 * 4-level) has to join it — attached to the same IOAS after it (iommufd
 * reuses the automatic domain) or to that HWPT by id. From then on that
 * device's DMA at an IOVA the IOAS maps translates through the wrong
 * entries: it faults where the IOAS maps memory, or — when the IOAS maps a
 * page where the walk lands on a leaf (IOVA 0 upwards: the top entry, the
 * first tables) — the device reads and writes wherever the bytes of the
 * user page the walk takes for a page table point, pages of other buffers,
 * page tables, anything. The vtd1 device, `translate` (a software walk of
 * the domain) and iommufd see nothing wrong.
 *
 * Applied as (6.12 only; 7.3 writes the domain's own depth from
 * pt_iommu_vtdss_hw_info()): a VT-d device attached to a domain shallower
 * than its unit's tables has its DMA walked from the domain's root with the
 * unit's depth (no IOTLB on that path: the entry is walked for every access).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { DmaOutcome, Machine } from '../../../impl/platform/index.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { ACC_READ, ACC_WRITE, FAULT_NO_DOMAIN, FAULT_PERMISSION, prepare, walk, walkTableFrom, WalkResult, type WalkTable } from '../../../impl/iommu/walker.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;

type Dma = Machine['dma'];

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd612-pasid-aw-from-unit-agaw', profile, {
    machine: (m) => {
      if (profile !== '6.12') return;
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      /** Stream ids whose PASID entry carries the unit's width over a shallower domain: the table the unit walks. */
      const wrongWidth = new Map<number, { domain: HwDomain; table: WalkTable }>();

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const rc = attach(sid, domain, pasid);
        const key = sid * PASID_STRIDE + pasid;
        wrongWidth.delete(key);
        const dev = m.device(sid);
        const pt = domain?.pt;
        if (domain && pt && dev && dev.iommu.hw === hw) {
          // iommu->agaw: the unit's table depth (levels of the tables it allocates).
          const unitTop = (dev.iommu.config.domainCfg as { levels?: number }).levels ?? 4;
          if (unitTop - 1 > pt.topLevel) {
            // THE FAULT: pasid_set_address_width(pte, iommu->agaw) with pgd = the domain's root.
            const t = walkTableFrom(pt.g, pt.rootHw, pt.topLevel, false);
            t.topLevel = unitTop - 1;
            t.topEntries = 512;
            t.vaBits = pt.g.granLg2 + pt.g.bitsPerLevel * unitTop;
            prepare(t);
            wrongWidth.set(key, { domain, table: t });
          }
        }
        return rc;
      });

      // The device's DMA: every page walked through the PASID entry as written.
      const res = new WalkResult();
      patchOwn(m, 'dma', (dma: Dma): Dma => (handle, iova, dir, data, length, pasid) => {
        const entry = pasid === undefined ? wrongWidth.get(handle * PASID_STRIDE) : undefined;
        const dev = m.device(handle);
        if (!entry || !dev || dev.group.domain.hw !== entry.domain) return dma(handle, iova, dir, data, length, pasid);
        return walkedDma(m, entry.table, res, iova, dir, data, length);
      });
    },
  });
}

/** Machine.dma over a hardware walk of `t` (every page translated before any byte moves). */
function walkedDma(m: Machine, t: WalkTable, res: WalkResult, iova: bigint, dir: 'read' | 'write', data: Uint8Array | undefined, length: number): DmaOutcome {
  const len = dir === 'write' ? (data?.length ?? 0) : length;
  if (len === 0) return { ok: true, ...(dir === 'read' ? { data: new Uint8Array(0) } : {}), touched: [] };
  if (iova < 0n || iova + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, fault: 'unmapped' };
  const start = Number(iova);
  const pieces: { pa: number; off: number; n: number }[] = [];
  for (let off = 0; off < len; ) {
    const cur = start + off;
    const n = Math.min(4096 - (cur % 4096), len - off);
    const rc = walk(m.memory, t, cur, dir === 'write' ? ACC_WRITE : ACC_READ, null, res, -1, -1, 3);
    if (rc !== 0) return { ok: false, fault: rc === FAULT_PERMISSION ? 'permission' : rc === FAULT_NO_DOMAIN ? 'blocked' : 'unmapped' };
    if (!m.memory.inRam(res.pa, n)) return { ok: false, fault: 'unmapped' };
    pieces.push({ pa: res.pa, off, n });
    off += n;
  }
  const out = dir === 'read' ? new Uint8Array(len) : undefined;
  for (const p of pieces) {
    if (out) out.set(m.memory.u8.subarray(p.pa, p.pa + p.n), p.off);
    else if (data) m.memory.u8.set(data.subarray(p.off, p.off + p.n), p.pa);
  }
  const touched: { buffer: number; offset: number; length: number }[] = [];
  for (const p of pieces) {
    const where = m.reverseMap(p.pa);
    if (!where) continue;
    const last = touched[touched.length - 1];
    if (last && last.buffer === where.buffer && last.offset + last.length === where.offset) last.length += p.n;
    else touched.push({ buffer: where.buffer, offset: where.offset, length: p.n });
  }
  return { ok: true, ...(out ? { data: out } : {}), touched };
}
