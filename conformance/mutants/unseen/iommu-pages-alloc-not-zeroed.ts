/**
 * iommu-pages-alloc-not-zeroed (drivers/iommu/iommu-pages.c
 * iommu_alloc_pages_node_sz).
 *
 * Every IO page-table page — generic_pt's _table_alloc / table_alloc_top
 * (VT-d second stage, AMD v1, the selftest's AMDv1 mock) and io-pgtable-arm's
 * __arm_lpae_alloc_pages (SMMUv3) — comes from iommu_alloc_pages_node_sz(),
 * and all of them rely on it returning a zeroed table: an all-zero table is
 * an empty one (no entry present), and nothing else clears it before it is
 * linked into the tree and the IOMMU may walk it. The helper adds the flag
 * itself:
 *     folio = __folio_alloc_node(gfp | __GFP_ZERO, order, nid);
 * The fault drops `| __GFP_ZERO` (the zeroing "moved to the callers" in a
 * rework of the helper, and no caller does it). The page allocator then
 * hands back pages with whatever their previous owner left in them —
 * typically a recently freed page: a page table another domain (or this one)
 * freed, or a user page a process unmapped.
 *
 * Consequence: a new table — the root of a new domain, or a lower table
 * allocated while mapping — starts out full of stale entries: old table
 * pointers into pages that are free or reused, old leaves pointing at pages
 * nobody pins any more, or, from a recycled user page, PTEs whose bits the
 * user wrote. The device translates IOVAs its IOAS never mapped (to freed
 * pages, to other users' memory), maps land in pages that are no longer
 * tables (corrupting whoever owns them now), IOMMU_IOAS_MAP and attach can
 * fail with EADDRINUSE/EEXIST over "present" garbage, and tearing such a
 * table down frees pages the table never owned.
 *
 * Applied as: a page freed as a page table (freeTable: an unmap that
 * covers a table, a domain's teardown) keeps the content it had, and gets it
 * back when the page-table allocator (allocTable, and each new domain's top
 * table) hands the page out again. Pages that went through other owners
 * meanwhile (a user frame: the mm zeroes anonymous memory) are not
 * resurrected, and user pages are not modelled as recycled into tables
 * (random user bytes read as PTEs make the simulation's own table walks
 * explode; the kernel would mostly oops there). A "free" of an address
 * beyond RAM or of a page the domain never allocated, which only a garbage
 * entry can produce, is dropped (the kernel would BUG on it).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwIommu } from '../../../impl/platform/hw.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { Process } from '../../../impl/process/process.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PAGE = 4096;

/** Content of freed pages by PFN (all-zero pages are not kept). */
type Stash = Map<number, Uint8Array>;

const stashes = new WeakMap<Process, Stash>();

function stashOf(proc: Process): Stash {
  let s = stashes.get(proc);
  if (!s) stashes.set(proc, (s = new Map()));
  return s;
}

/** Remember what pages [pa, pa + n pages) hold before they are freed (and zeroed by the simulation). */
function keep(stash: Stash, u8: Uint8Array, pa: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const p = pa + i * PAGE;
    if (p < 0 || p + PAGE > u8.length) continue;
    const page = u8.subarray(p, p + PAGE);
    if (page.some((b) => b !== 0)) stash.set(p / PAGE, page.slice());
    else stash.delete(p / PAGE);
  }
}

/** A page-table allocation gets [pa, pa + n pages) as their previous owner left them. */
function unzeroed(stash: Stash, u8: Uint8Array, pa: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const p = pa + i * PAGE;
    const old = stash.get(p / PAGE);
    if (old === undefined) continue;
    stash.delete(p / PAGE);
    if (p + PAGE <= u8.length) u8.set(old, p);
  }
}

type TableInternals = IoPageTable & {
  allocTable(level: number): number;
  freeTable(pa: number, order: number): void;
  readonly tableOrder: number[];
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-pages-alloc-not-zeroed', profile, {
    process: (proc) => {
      const stash = stashOf(proc);
      // A page that became a user frame in between has had another owner: nothing of the old table is left in it.
      patchOwn(proc as unknown as { freeFrame(pfn: number): void }, 'freeFrame', (freeFrame) => (pfn: number) => {
        stash.delete(pfn);
        freeFrame(pfn);
      });
    },
    machine: (m, env) => {
      const stash = stashOf(env.proc);
      const mem = m.memory;
      const hookTable = (pt: TableInternals): void => {
        /** Table pages this table allocated and has not freed. */
        const owned = new Set<number>([pt.root]);
        patchOwn(pt, 'allocTable', (allocTable) => (level: number) => {
          const pa = allocTable(level);
          if (pa !== 0) {
            owned.add(pa);
            // THE FAULT: iommu_alloc_pages_node_sz() without __GFP_ZERO.
            unzeroed(stash, mem.u8, pa, 2 ** (pt.tableOrder[level] as number));
          }
          return pa;
        });
        patchOwn(pt, 'freeTable', (freeTable) => (pa: number, order: number) => {
          // Only a garbage entry leads here with a page the table does not own: the kernel would BUG.
          if (!owned.delete(pa)) return;
          keep(stash, mem.u8, pa, 2 ** order);
          freeTable(pa, order);
        });
        // The top table was allocated by the domain's init, before these hooks.
        unzeroed(stash, mem.u8, pt.root, 2 ** (pt.tableOrder[pt.topLevel] as number));
      };
      for (const hw of hwUnits(m)) {
        patchOwn(hw, 'createDomain', (createDomain: HwIommu['createDomain']) => (cfg) => {
          const d = createDomain(cfg);
          if (typeof d !== 'number' && d.pt !== null) hookTable(d.pt as TableInternals);
          return d;
        });
      }
    },
  });
}
