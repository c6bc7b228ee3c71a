/**
 * A hardware-like IOTLB and walk (paging-structure) cache: fixed-size,
 * direct-mapped, typed-array storage with numeric keys (tag, page number).
 * Entries stay until an invalidation covers them — stale entries are the
 * point: a missing or too-narrow invalidation is observable.
 *
 * IOTLB entries are filled per accessed key page (2^keyShift bytes) but remember
 * the whole leaf (start IOVA, size, PA); an invalidation drops every entry whose
 * leaf overlaps the range, as hardware drops a large-page entry.
 * Walk-cache entries map (tag, IOVA >> spanLg2) to the last-level table PA.
 */
import { POW2 } from '../pagetable/pgsize.ts';

const TWO32 = 4294967296;

function hash(tag: number, key: number): number {
  const lo = key >>> 0;
  const hi = (key / TWO32) >>> 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) ^ Math.imul(tag + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  return h >>> 0;
}

/** How many valid entries each tag has. */
class TagCounts {
  private readonly n = new Map<number, number>();

  add(tag: number): void {
    this.n.set(tag, (this.n.get(tag) ?? 0) + 1);
  }

  remove(tag: number): void {
    const c = this.n.get(tag) ?? 0;
    if (c <= 1) this.n.delete(tag);
    else this.n.set(tag, c - 1);
  }

  has(tag: number): boolean {
    return this.n.has(tag);
  }

  clear(): void {
    this.n.clear();
  }
}

export class Iotlb {
  readonly size: number;
  readonly keyShift: number;
  private readonly mask: number;
  private readonly keyDiv: number;
  readonly tag: Float64Array;
  readonly key: Float64Array;
  readonly leafVa: Float64Array;
  readonly leafPa: Float64Array;
  readonly leafLg2: Uint8Array;
  readonly perm: Uint8Array;
  readonly dirty: Uint8Array;
  /** Valid entries whose leaf is larger than a key page (forces a scan on invalidation). */
  private large = 0;
  /** Valid entries per tag: a domain with none (never walked, or all invalidated) is skipped without a scan. */
  private readonly live = new TagCounts();
  hits = 0;
  misses = 0;

  constructor(entries = 4096, keyShift = 12) {
    let n = 1;
    while (n < entries) n *= 2;
    this.size = n;
    this.mask = n - 1;
    this.keyShift = keyShift;
    this.keyDiv = 2 ** keyShift;
    this.tag = new Float64Array(n).fill(-1);
    this.key = new Float64Array(n);
    this.leafVa = new Float64Array(n);
    this.leafPa = new Float64Array(n);
    this.leafLg2 = new Uint8Array(n);
    this.perm = new Uint8Array(n);
    this.dirty = new Uint8Array(n);
  }

  /** Slot holding (tag, iova), or -1. */
  lookup(tag: number, iova: number): number {
    const key = Math.floor(iova / this.keyDiv);
    const i = hash(tag, key) & this.mask;
    if (this.tag[i] === tag && this.key[i] === key) {
      this.hits++;
      return i;
    }
    this.misses++;
    return -1;
  }

  insert(tag: number, iova: number, leafVa: number, leafLg2: number, leafPa: number, perm: number, dirty: boolean): void {
    const key = Math.floor(iova / this.keyDiv);
    const i = hash(tag, key) & this.mask;
    if (this.tag[i] !== -1) this.drop(i);
    this.tag[i] = tag;
    this.live.add(tag);
    this.key[i] = key;
    this.leafVa[i] = leafVa;
    this.leafPa[i] = leafPa;
    this.leafLg2[i] = leafLg2;
    this.perm[i] = perm;
    this.dirty[i] = dirty ? 1 : 0;
    if (leafLg2 > this.keyShift) this.large++;
  }

  private drop(i: number): void {
    if ((this.leafLg2[i] as number) > this.keyShift) this.large--;
    this.live.remove(this.tag[i] as number);
    this.tag[i] = -1;
  }

  /** Drop every entry of `tag` whose leaf overlaps [start, last]. */
  invalidateRange(tag: number, start: number, last: number): void {
    if (!this.live.has(tag)) return;
    const pages = (last - start + 1) / 2 ** this.keyShift;
    if (this.large === 0 && pages <= 64) {
      const step = 2 ** this.keyShift;
      for (let a = Math.floor(start / step) * step; a <= last; a += step) {
        const key = a / step;
        const i = hash(tag, key) & this.mask;
        if (this.tag[i] === tag && this.key[i] === key) this.drop(i);
      }
      return;
    }
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] !== tag) continue;
      const s = this.leafVa[i] as number;
      const e = s + (POW2[this.leafLg2[i] as number] as number) - 1;
      if (s <= last && e >= start) this.drop(i);
    }
  }

  invalidateTag(tag: number): void {
    if (!this.live.has(tag)) return;
    for (let i = 0; i < this.size; i++) if (this.tag[i] === tag) this.drop(i);
  }

  invalidateAll(): void {
    this.tag.fill(-1);
    this.large = 0;
    this.live.clear();
  }

  /** Back to the state of a new Iotlb of the same size (a reused one: empty, counters at zero). */
  clear(): void {
    this.invalidateAll();
    this.hits = 0;
    this.misses = 0;
  }

  /** Visit valid entries (tests / consistency checks). */
  forEach(fn: (slot: number) => void): void {
    for (let i = 0; i < this.size; i++) if (this.tag[i] !== -1) fn(i);
  }
}

export class WalkCache {
  readonly size: number;
  private readonly mask: number;
  readonly tag: Float64Array;
  readonly key: Float64Array;
  readonly spanLg2: Uint8Array;
  readonly table: Float64Array;
  readonly perm: Uint8Array;

  constructor(entries = 1024) {
    let n = 1;
    while (n < entries) n *= 2;
    this.size = n;
    this.mask = n - 1;
    this.tag = new Float64Array(n).fill(-1);
    this.key = new Float64Array(n);
    this.spanLg2 = new Uint8Array(n);
    this.table = new Float64Array(n);
    this.perm = new Uint8Array(n);
  }

  lookup(tag: number, iova: number, spanLg2: number): number {
    const key = Math.floor(iova / (POW2[spanLg2] as number));
    const i = hash(tag ^ 0x5bd1e995, key) & this.mask;
    return this.tag[i] === tag && this.key[i] === key && this.spanLg2[i] === spanLg2 ? i : -1;
  }

  insert(tag: number, iova: number, spanLg2: number, table: number, perm: number): void {
    const key = Math.floor(iova / (POW2[spanLg2] as number));
    const i = hash(tag ^ 0x5bd1e995, key) & this.mask;
    if (this.tag[i] !== -1) this.live.remove(this.tag[i] as number);
    this.tag[i] = tag;
    this.live.add(tag);
    this.key[i] = key;
    this.spanLg2[i] = spanLg2;
    this.spans |= 1 << (spanLg2 & 31);
    this.table[i] = table;
    this.perm[i] = perm;
  }

  /** Span sizes (lg2) ever inserted: small ranges are probed per span key instead of scanning. */
  private spans = 0;
  /** Valid entries per tag (as the IOTLB's). */
  private readonly live = new TagCounts();

  private drop(i: number): void {
    this.live.remove(this.tag[i] as number);
    this.tag[i] = -1;
  }

  invalidateRange(tag: number, start: number, last: number): void {
    if (!this.live.has(tag)) return;
    if (this.spans !== 0 && (this.spans & (this.spans - 1)) === 0) {
      const spanLg2 = 31 - Math.clz32(this.spans);
      const span = POW2[spanLg2] as number;
      const k0 = Math.floor(start / span);
      const k1 = Math.floor(last / span);
      if (k1 - k0 < 64) {
        for (let k = k0; k <= k1; k++) {
          const i = hash(tag ^ 0x5bd1e995, k) & this.mask;
          if (this.tag[i] === tag && this.key[i] === k) this.drop(i);
        }
        return;
      }
    }
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] !== tag) continue;
      const span = POW2[this.spanLg2[i] as number] as number;
      const s = (this.key[i] as number) * span;
      if (s <= last && s + span - 1 >= start) this.drop(i);
    }
  }

  invalidateTag(tag: number): void {
    if (!this.live.has(tag)) return;
    for (let i = 0; i < this.size; i++) if (this.tag[i] === tag) this.drop(i);
  }

  /** Back to the state of a new WalkCache of the same size (a reused one). */
  clear(): void {
    this.tag.fill(-1);
    this.spans = 0;
    this.live.clear();
  }

  forEach(fn: (slot: number) => void): void {
    for (let i = 0; i < this.size; i++) if (this.tag[i] !== -1) fn(i);
  }
}
