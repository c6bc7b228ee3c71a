/**
 * Test support: reading the simulated hardware's page tables directly, for
 * tests that check what a driver wrote (impl/testing is imported by test files
 * only).
 */
import type { HwDomain as Domain } from '../platform/hw.ts';
import { VTDSS_SNP } from '../pagetable/fmt/vtdss.ts';
import { AMD_FC_HI } from '../pagetable/fmt/amdv1.ts';

/** Whether the leaf PTE mapping iova carries the format's snoop bit (VT-d SNP, AMD FC); undefined if unmapped or the format has none. */
export function hwLeafSnoop(d: Domain, iova: number): boolean | undefined {
  const pt = d.pt;
  if (!pt) return undefined;
  const w = pt.findLeaf(iova);
  if (w < 0) return undefined;
  const u = d.inst.mem.u32;
  if (pt.g.name === 'vtd-ss') return ((u[w] as number) & VTDSS_SNP) !== 0;
  if (pt.g.name === 'amd-v1') return ((u[w + 1] as number) & AMD_FC_HI) !== 0;
  return undefined;
}
