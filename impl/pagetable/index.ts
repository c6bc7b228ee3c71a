/**
 * The IO page-table core: formats (fmt/*.ts), their geometry (format.ts), and
 * the algorithms that map and unmap them -- generic_pt's (table.ts) and the
 * drivers' that predate it (io_pgtable_arm.ts, intel612.ts, amd612.ts).
 * createPageTable picks the algorithm the profile's driver uses.
 */
import { ENOMEM } from '../lib/errno.ts';
import type { PhysMemory } from '../lib/physmem.ts';
import { AmdLegacyTable } from './amd612.ts';
import type { PtGeometry } from './format.ts';
import { IntelLegacyTable } from './intel612.ts';
import { ArmLpaeTable } from './io_pgtable_arm.ts';
import { IoPageTable } from './table.ts';

/** A table of geometry `g` with its top allocated, or -ENOMEM. */
export function createPageTable(mem: PhysMemory, g: PtGeometry): IoPageTable | number {
  let t: IoPageTable;
  switch (g.driver) {
    case 'io-pgtable-arm':
      t = new ArmLpaeTable(mem, g);
      break;
    case 'intel-612':
      t = new IntelLegacyTable(mem, g);
      break;
    case 'amd-612':
      t = new AmdLegacyTable(mem, g);
      break;
    default:
      t = new IoPageTable(mem, g);
      break;
  }
  return t.init() === 0 ? t : -ENOMEM;
}

export { IoPageTable, IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder, type FlushHook, type ChangeTopHook } from './table.ts';
export { makeGeometry, vaBitsAtTop, BENCH_FORMATS, type FormatConfig, type FormatName, type PtGeometry, type PtDriver } from './format.ts';
export { IotlbGather } from './gather.ts';
export { canonicalDump, type CanonicalDump } from './dump.ts';
export * from './fmt/types.ts';
