/**
 * Which refusals the machines decide, per event type.
 *
 * An errno E of an event type T is *decided* when some machine transition (or
 * system guard) on T refuses with E — the machines then know exactly when E
 * happens. It is *argument-level* when some errno clause of T that no machine
 * implements also yields E (a malformed argument can cause it too, and the
 * machines do not model arguments). A failure the machines did not predict is
 * a disagreement only when its errno is decided and not argument-level;
 * otherwise the machines leave it open.
 */
import type { Clause } from '../spec/clauses/types.ts';
import { clauses as abi } from '../spec/clauses/abi.ts';
import { clauses as accessClauses } from '../spec/clauses/access.ts';
import { clauses as deviceClauses } from '../spec/clauses/device.ts';
import { clauses as dma } from '../spec/clauses/dma.ts';
import { clauses as fault } from '../spec/clauses/fault.ts';
import { clauses as groupClauses } from '../spec/clauses/group.ts';
import { clauses as hwpt } from '../spec/clauses/hwpt.ts';
import { clauses as ioasClauses } from '../spec/clauses/ioas.ts';
import { clauses as kvmClauses } from '../spec/clauses/kvm.ts';
import { clauses as lifecycle } from '../spec/clauses/lifecycle.ts';
import { clauses as nesting } from '../spec/clauses/nesting.ts';
import { clauses as objects } from '../spec/clauses/objects.ts';
import { clauses as pages } from '../spec/clauses/pages.ts';
import { clauses as pasid } from '../spec/clauses/pasid.ts';
import { clauses as vfioCompat } from '../spec/clauses/vfio_compat.ts';
import { clauses as viommu } from '../spec/clauses/viommu.ts';
import { allSteppers } from './machines/index.ts';
import { SYSTEM_GUARDS } from './system/guards.ts';
import { HANDLERS } from './system/handlers.ts';

/** Every clause file (model/decided.test.ts checks the list against spec/clauses). */
export const CLAUSE_MODULES: readonly { readonly file: string; readonly clauses: readonly Clause[] }[] = [
  { file: 'abi.ts', clauses: abi },
  { file: 'access.ts', clauses: accessClauses },
  { file: 'device.ts', clauses: deviceClauses },
  { file: 'dma.ts', clauses: dma },
  { file: 'fault.ts', clauses: fault },
  { file: 'group.ts', clauses: groupClauses },
  { file: 'hwpt.ts', clauses: hwpt },
  { file: 'ioas.ts', clauses: ioasClauses },
  { file: 'kvm.ts', clauses: kvmClauses },
  { file: 'lifecycle.ts', clauses: lifecycle },
  { file: 'nesting.ts', clauses: nesting },
  { file: 'objects.ts', clauses: objects },
  { file: 'pages.ts', clauses: pages },
  { file: 'pasid.ts', clauses: pasid },
  { file: 'vfio_compat.ts', clauses: vfioCompat },
  { file: 'viommu.ts', clauses: viommu },
];

export const ALL_CLAUSES: readonly Clause[] = CLAUSE_MODULES.flatMap((m) => m.clauses);

/** Event type → errnos some machine transition or system guard refuses it with. */
export const DECIDED: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const m = new Map<string, Set<string>>();
  const add = (type: string, errno: string): void => {
    const s = m.get(type) ?? new Set<string>();
    s.add(errno);
    m.set(type, s);
  };
  for (const c of allSteppers()) for (const e of c.edges) if (e.meta.refuse) add(e.event, e.meta.refuse);
  for (const [type, h] of Object.entries(HANDLERS)) for (const g of h.guards) add(type, SYSTEM_GUARDS[g]?.errno as string);
  return m;
})();

/** The event types a clause is about: its `events`, else its `command` (IOMMU_TEST_CMD: every test op). */
export function clauseEvents(c: Clause): readonly string[] | 'test-ops' | undefined {
  if (c.events) return c.events;
  if (c.command === 'IOMMU_TEST_CMD') return 'test-ops';
  return c.command ? [c.command] : undefined;
}

/** Event type → errnos a malformed argument can also produce (errno clauses that decide nothing themselves). */
export const ARGUMENT_LEVEL: (type: string) => ReadonlySet<string> = (() => {
  const cache = new Map<string, Set<string>>();
  return (type: string) => {
    let s = cache.get(type);
    if (s) return s;
    s = new Set<string>();
    for (const c of ALL_CLAUSES) {
      if (c.kind !== 'errno' || !c.errno || c.decides) continue;
      const ev = clauseEvents(c);
      const applies = ev === 'test-ops' ? type.startsWith('IOMMU_TEST_OP_') : ev?.includes(type);
      if (applies) s.add(c.errno);
    }
    cache.set(type, s);
    return s;
  };
})();

/** A failure with this errno contradicts a machine that allowed the event. */
export function decidesFailure(type: string, errno: string): boolean {
  return (DECIDED.get(type)?.has(errno) ?? false) && !ARGUMENT_LEVEL(type).has(errno);
}
