/**
 * Test support: reading the simulated hardware's page tables directly, for
 * tests that check what a driver wrote (impl/testing is imported by test files
 * only).
 */
import type { HwDomain as Domain } from '../platform/hw.ts';

/** Whether the leaf PTE mapping iova carries the format's snoop bit (VT-d SNP, AMD FC); undefined if unmapped or the format has none. */
export function hwLeafSnoop(d: Domain, iova: number): boolean | undefined {
  const pt = d.pt;
  if (!pt) return undefined;
  const w = pt.findLeaf(iova);
  if (w < 0) return undefined;
  const u = d.inst.mem.u32;
  if (pt.g.name === 'vtd-ss') return ((u[w] as number) & 0x800) !== 0;
  if (pt.g.name === 'amd-v1') return ((u[w + 1] as number) & 0x10000000) !== 0;
  return undefined;
}
