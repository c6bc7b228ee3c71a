/**
 * The process over the machine's one physical memory: user pages are
 * KIND_DATA pages of it (page tables are KIND_TABLE pages of the same
 * memory), they go back to it when neither mapped nor pinned, and running
 * out of it fails mmap with nothing left allocated.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { KIND_TABLE, PhysMemory, Process, PROT_RW } from './index.ts';

const PAGE = 4096;

describe('the process over one physical memory', () => {
  check('ref.process.user-pages-are-data-pages', () => {
    const mem = new PhysMemory({ size: 1024 * 1024 });
    const proc = new Process(mem);
    const va = proc.mmap(3 * PAGE, PROT_RW)!;
    expect(mem.dataPages).toBe(3);
    expect(proc.residentPages).toBe(3);
    // Bytes written through the address space are the bytes of the physical page.
    expect(proc.copyToUser(va + 4096n + 5n, new Uint8Array([7, 8, 9]))).toBe(true);
    const pa = proc.translateVa(va + 4096n)!.pfn * PAGE;
    expect([...mem.u8.subarray(pa + 5, pa + 8)]).toEqual([7, 8, 9]);
    // A page-table page comes from the same allocator, never overlapping a user page.
    const table = mem.allocPages(0, KIND_TABLE);
    expect(table).not.toBe(0);
    for (let i = 0; i < 3; i++) expect(proc.translateVa(va + BigInt(i * PAGE))!.pfn * PAGE).not.toBe(table);
    mem.freePages(table, 0, KIND_TABLE);
    // Pinned pages outlive munmap and go back to the memory at the last unpin.
    const pin = proc.pinUserPages(va, 2, true);
    expect(pin.errno).toBe(0);
    proc.munmap(va, 3 * PAGE);
    expect(mem.dataPages).toBe(2);
    expect(proc.residentPages).toBe(2);
    for (const pfn of (pin as { pfns: number[] }).pfns) proc.unpinUserPage(pfn);
    expect(mem.dataPages).toBe(0);
    expect(proc.residentPages).toBe(0);
    // A freed page comes back zeroed.
    const again = proc.mmap(PAGE, PROT_RW)!;
    expect([...proc.copyFromUser(again, PAGE)!].every((b) => b === 0)).toBe(true);
  });

  check('ref.process.mmap-enomem-atomic', () => {
    const mem = new PhysMemory({ size: 16 * PAGE });
    const proc = new Process(mem);
    const before = mem.dataPages;
    expect(proc.mmap(64 * PAGE, PROT_RW)).toBeNull();
    expect(mem.dataPages).toBe(before);
    expect(proc.mmap(8 * PAGE, PROT_RW)).not.toBeNull();
  });

  check('ref.process.huge-aligned-maps-large-leaves', () => {
    // As THP backs an aligned anonymous mapping: each whole 2 MiB of it is one physically
    // contiguous, 2 MiB-aligned block (an IOMMU can map it with one large leaf); the tail is
    // small pages. Each page is still its own frame: munmap gives all of them back.
    const mem = new PhysMemory({ size: 16 * 1024 * 1024 });
    const proc = new Process(mem);
    proc.mmap(PAGE, PROT_RW); // the allocator no longer at an aligned start
    const huge = 512;
    const va = proc.mmap((huge + 3) * PAGE, PROT_RW, true)!;
    expect(va % BigInt(huge * PAGE)).toBe(0n);
    const pfns = Array.from({ length: huge + 3 }, (_, i) => proc.translateVa(va + BigInt(i * PAGE))!.pfn);
    expect(pfns[0]! % huge).toBe(0);
    expect(pfns.slice(0, huge).every((p, i) => p === pfns[0]! + i)).toBe(true);
    expect(mem.dataPages).toBe(1 + huge + 3);
    proc.munmap(va, (huge + 3) * PAGE);
    expect(mem.dataPages).toBe(1);
    // Not huge-aligned: page by page, nothing promised about contiguity (and no 2 MiB block taken).
    const small = proc.mmap(4 * PAGE, PROT_RW)!;
    expect(mem.dataPages).toBe(5);
    expect(small % BigInt(PAGE)).toBe(0n);
  });

  check('ref.process.small-pages-out-of-order', () => {
    // A page allocator hands a mapping's order-0 frames out in no VA order: the frame after a
    // page's is the next page's at only some boundaries (runs of two), so an overrun past a
    // pinned page reaches another page, as it would on a real machine.
    const proc = new Process(new PhysMemory({ size: 64 * PAGE }));
    const va = proc.mmap(8 * PAGE, PROT_RW)!;
    const pfns = Array.from({ length: 8 }, (_, i) => proc.translateVa(va + BigInt(i * PAGE))!.pfn);
    expect(new Set(pfns).size).toBe(8);
    const adjacent = pfns.slice(1).filter((p, i) => p === pfns[i]! + 1).length;
    expect(adjacent).toBeGreaterThan(0);
    expect(adjacent).toBeLessThan(4);
    expect(proc.translateVa(va)!.pfn + 1).not.toBe(pfns[1]);
  });
});

