/**
 * The same operations on our core: a Domain of impl/iommu (iommu_map /
 * iommu_unmap / iova_to_phys / read_and_clear_dirty semantics) over the
 * impl/pagetable table, answering in the harness's result form so the two can
 * be compared field by field.
 */
import { IommuInstance, PhysMemory, type Domain } from '../../../impl/iommu/index.ts';
import { canonicalDump } from '../../../impl/pagetable/dump.ts';
import type { FormatConfig } from '../../../impl/pagetable/format.ts';
import type { DomainInfo, PtOp, PtResult } from './protocol.ts';

const TWO53 = 1n << 53n;

/** A fresh core domain for `cfg`, or the negative errno createDomain answered. */
export class CoreDomain {
  private constructor(
    readonly mem: PhysMemory,
    readonly domain: Domain,
  ) {}

  /** A domain in `mem` (shared between cases: tables are freed between them), or a fresh 64 MiB memory. */
  static create(cfg: FormatConfig, mem = new PhysMemory({ size: 64 * 1024 * 1024 })): CoreDomain | number {
    const inst = new IommuInstance({ mem, vendor: 'mock' });
    const d = inst.createDomain(cfg);
    if (typeof d === 'number') return d;
    // The harness's 6.12 VT-d and AMD domains have dirty tracking on (dirty_tracking = 1), so
    // read_and_clear_dirty with a bitmap is allowed there.
    if (d.pt !== null) d.pt.dirtyTracking = true;
    return new CoreDomain(mem, d);
  }

  info(): DomainInfo {
    let pgsizes = 0n;
    for (const s of this.domain.pgsizes) pgsizes |= BigInt(s);
    return { pgsizes, apertureStart: BigInt(this.domain.apertureStart), apertureEnd: this.domain.apertureLastBig };
  }

  run(op: PtOp): PtResult {
    const d = this.domain;
    switch (op.op) {
      case 'map': {
        const rc = op.iova + op.size <= TWO53 ? d.map(Number(op.iova), Number(op.pa), Number(op.size), op.prot) : d.mapWide(op.iova, Number(op.pa), Number(op.size), op.prot);
        return { ret: BigInt(rc) };
      }
      case 'unmap':
        return { ret: BigInt(op.iova + op.size <= TWO53 ? d.unmap(Number(op.iova), Number(op.size)) : d.unmapWide(op.iova, Number(op.size))) };
      case 'phys':
        return { ret: BigInt(d.iovaToPhysWide(op.iova)) };
      case 'setdirty':
        return { ret: BigInt(d.setDirtyWide(op.iova)) };
      case 'dirty': {
        const rec: [bigint, bigint][] = [];
        const rc = d.readAndClearDirtyWide(op.iova, Number(op.size), op.flags, { record: (iova, len) => rec.push([iova, BigInt(len)]) });
        return { ret: BigInt(rc), rec };
      }
      case 'dump': {
        if (d.pt === null) return { dump: [], pages: 0 };
        const c = canonicalDump(d.pt);
        return { dump: c.lines, pages: c.pages };
      }
    }
  }

  /** Destroy; the table pages the domain still held afterwards (0 unless a leak). */
  free(): number {
    const pt = this.domain.pt;
    this.domain.destroy();
    return pt === null ? 0 : pt.tablePages;
  }
}
