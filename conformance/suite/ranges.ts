/** Inclusive u64 ranges [start, last] and small helpers over them (bigint). */

export const U64_MAX = (1n << 64n) - 1n;
export const PAGE = 4096n;

export interface Range {
  readonly start: bigint;
  readonly last: bigint;
}

export function overlaps(a: Range, b: Range): boolean {
  return a.start <= b.last && b.start <= a.last;
}

export function contains(outer: Range, inner: Range): boolean {
  return outer.start <= inner.start && inner.last <= outer.last;
}

export function within(r: Range, x: bigint): boolean {
  return r.start <= x && x <= r.last;
}

/** [start, start+length-1], or undefined for length 0 or a wrap past U64_MAX. */
export function rangeOf(start: bigint, length: bigint): Range | undefined {
  if (length <= 0n) return undefined;
  const last = start + length - 1n;
  if (last > U64_MAX) return undefined;
  return { start, last };
}

/**
 * Why iopt_alloc_iova cannot have chosen the automatic IOVA range `r`: outside
 * its search window [PAGE, U64_MAX - PAGE], or outside every allowed range
 * (IOMMU_IOAS_ALLOW_IOVAS) when there are any; undefined when it can.
 */
export function autoIovaViolation(r: Range, allowed: readonly Range[]): string | undefined {
  if (r.start < PAGE || r.last > U64_MAX - PAGE) return `outside the search window [${hexOf(PAGE)}, ${hexOf(U64_MAX - PAGE)}]`;
  // The search walks spans of the allowed interval tree (interval_tree_for_each_span): ranges that
  // overlap or touch are one span, so an IOVA may straddle two of them.
  if (allowed.length > 0 && !union(allowed).some((a) => contains(a, r))) return 'outside every allowed range (IOMMU_IOAS_ALLOW_IOVAS)';
  return undefined;
}

/** THP size on x86-64: io_pagetable.c caps the automatic alignment at HPAGE_SIZE. */
export const HPAGE = 2n * 1024n * 1024n;

/**
 * The alignment iopt_alloc_iova gives an automatic IOVA for `length` bytes at
 * user address `uptr`: roundup_pow_of_two(length), lowered to the alignment
 * uptr has (so a THP can be mapped whole), capped at HPAGE_SIZE.
 */
export function autoIovaAlignment(uptr: bigint, length: bigint): bigint {
  let pow = 1n;
  while (pow < length) pow <<= 1n;
  const low = uptr & -uptr;
  const align = uptr !== 0n && low < pow ? low : pow;
  return align >= HPAGE ? HPAGE : align;
}

/** __alloc_iova_check_range: where `length` bytes fit in [start, last] once the start is aligned and given the page offset. */
function alignedFit(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint | undefined {
  if (start + align - 1n > U64_MAX) return undefined;
  const at = ((start + align - 1n) & ~(align - 1n)) | pageOffset;
  return at >= last || last - at < length - 1n ? undefined : at;
}

/**
 * iopt_alloc_iova's first fit for `length` bytes at user address `uptr`: the
 * spans of the allowed ranges (overlapping or touching ones are one span;
 * none: the whole window) inside [PAGE_SIZE, ULONG_MAX - PAGE_SIZE], then
 * the holes of `used` (the reserved ranges and the areas) from each span's
 * aligned start; undefined where the search answers ENOSPC.
 */
export function autoIovaFirstFit(used: readonly Range[], allowed: readonly Range[], uptr: bigint, length: bigint): bigint | undefined {
  const align = autoIovaAlignment(uptr, length);
  const pageOffset = uptr % PAGE;
  const window = { start: PAGE, last: U64_MAX - PAGE };
  const spans = allowed.length === 0 ? [window] : union(allowed).filter((s) => overlaps(s, window)).map((s) => ({ start: s.start < window.start ? window.start : s.start, last: s.last > window.last ? window.last : s.last }));
  const busy = union(used);
  for (const span of spans) {
    if (span.last - span.start < length - 1n) continue;
    const from = alignedFit(span.start, span.last, length, align, pageOffset);
    if (from === undefined) continue;
    for (const hole of complement(busy, { start: from, last: span.last })) {
      const at = hole.last - hole.start < length - 1n ? undefined : alignedFit(hole.start, hole.last, length, align, pageOffset);
      if (at !== undefined) return at;
    }
  }
  return undefined;
}

export function pageDown(x: bigint): bigint {
  return x - (x % PAGE);
}

/** Decodes an array of struct iommu_iova_range (16 bytes each: start, last, little-endian). */
export function decodeRanges(bytes: Uint8Array, count: number): Range[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: Range[] = [];
  for (let i = 0; i < count && (i + 1) * 16 <= bytes.length; i++) out.push({ start: view.getBigUint64(i * 16, true), last: view.getBigUint64(i * 16 + 8, true) });
  return out;
}

export function encodeRanges(ranges: readonly Range[]): Uint8Array {
  const out = new Uint8Array(ranges.length * 16);
  const view = new DataView(out.buffer);
  ranges.forEach((r, i) => {
    view.setBigUint64(i * 16, BigInt.asUintN(64, r.start), true);
    view.setBigUint64(i * 16 + 8, BigInt.asUintN(64, r.last), true);
  });
  return out;
}

/** Sorted, merged union of ranges. */
export function union(ranges: readonly Range[]): Range[] {
  const s = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: { start: bigint; last: bigint }[] = [];
  for (const r of s) {
    const top = out[out.length - 1];
    if (top && r.start <= top.last + 1n) {
      if (r.last > top.last) top.last = r.last;
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

/** Complement of `ranges` inside `space`. */
export function complement(ranges: readonly Range[], space: Range = { start: 0n, last: U64_MAX }): Range[] {
  const out: Range[] = [];
  let cur = space.start;
  for (const r of union(ranges)) {
    if (r.last < space.start || r.start > space.last) continue;
    if (r.start > cur) out.push({ start: cur, last: r.start - 1n });
    if (r.last >= space.last) return out;
    cur = r.last + 1n;
  }
  if (cur <= space.last) out.push({ start: cur, last: space.last });
  return out;
}

export function toBig(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  return 0n;
}

export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

export function hexOf(x: bigint): string {
  return `0x${x.toString(16)}`;
}
