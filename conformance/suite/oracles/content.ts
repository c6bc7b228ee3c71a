/**
 * What each user buffer holds, as far as the invariants oracle can follow
 * it: zeros from mem_alloc (anonymous memory, ADAPTER.md §3.5), the bytes of
 * mem_write, and what DMA writes and IOMMU_TEST_OP_ACCESS_RW put where the
 * IOAS maps them. A page something else may have written (an ioctl handed a
 * pointer into the buffer, a DMA whose landing is open) is unknown until
 * the oracle reads it again. With it a DMA read is checked against what the
 * page must hold, and a write against every byte it must not have touched —
 * not against the implementation's own `touched` report.
 */
const PAGE = 4096;

/** A page's bytes: ZERO (never written), its bytes, or UNKNOWN. */
type Page = Uint8Array | typeof ZERO | typeof UNKNOWN;
const ZERO = 0;
const UNKNOWN = 1;

export class ContentShadow {
  /** buffer handle → its pages (index → bytes); a missing index is ZERO. */
  private readonly buffers = new Map<number, { readonly length: number; readonly pages: Map<number, Page> }>();

  alloc(buffer: number, length: number): void {
    this.buffers.set(buffer, { length, pages: new Map() });
  }

  has(buffer: number): boolean {
    return this.buffers.has(buffer);
  }

  /** Bytes written at [offset, offset+data.length): known from now on. */
  write(buffer: number, offset: number, data: Uint8Array): void {
    const b = this.buffers.get(buffer);
    if (!b || offset < 0 || offset + data.length > b.length) return;
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const index = Math.floor(at / PAGE);
      const n = Math.min(PAGE - (at % PAGE), data.length - done);
      let page = b.pages.get(index) ?? ZERO;
      if (page === UNKNOWN && n < PAGE) {
        done += n; // the rest of the page is still unknown
        continue;
      }
      if (!(page instanceof Uint8Array)) {
        page = new Uint8Array(PAGE);
        b.pages.set(index, page);
      }
      page.set(data.subarray(done, done + n), at % PAGE);
      done += n;
    }
  }

  /** [offset, offset+length) may have been written by something the oracle cannot follow. */
  forget(buffer: number, offset: number, length: number): void {
    const b = this.buffers.get(buffer);
    if (!b) return;
    const last = Math.min(b.length, offset + Math.max(length, 1)) - 1;
    for (let index = Math.floor(Math.max(offset, 0) / PAGE); index <= Math.floor(last / PAGE); index++) b.pages.set(index, UNKNOWN);
  }

  forgetBuffer(buffer: number): void {
    const b = this.buffers.get(buffer);
    if (b) this.forget(buffer, 0, b.length);
  }

  forgetAll(): void {
    for (const h of this.buffers.keys()) this.forgetBuffer(h);
  }

  /** The bytes of [offset, offset+length), or undefined when a page of it is unknown (or outside the buffer). */
  read(buffer: number, offset: number, length: number): Uint8Array | undefined {
    const b = this.buffers.get(buffer);
    if (!b || offset < 0 || length < 0 || offset + length > b.length) return undefined;
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const n = Math.min(PAGE - (at % PAGE), length - done);
      const page = b.pages.get(Math.floor(at / PAGE)) ?? ZERO;
      if (page === UNKNOWN) return undefined;
      if (page instanceof Uint8Array) out.set(page.subarray(at % PAGE, (at % PAGE) + n), done);
      done += n;
    }
    return out;
  }

  /** Learn what a read of the memory showed (an unknown page becomes known where the read covers it whole). */
  learn(buffer: number, offset: number, data: Uint8Array): void {
    const b = this.buffers.get(buffer);
    if (!b) return;
    for (let at = offset; at < offset + data.length; ) {
      const index = Math.floor(at / PAGE);
      const n = Math.min(PAGE - (at % PAGE), offset + data.length - at);
      if (n === PAGE) b.pages.set(index, data.slice(at - offset, at - offset + PAGE));
      at += n;
    }
  }

  /** The byte ranges of a buffer, up to `maxBytes`, whose content is known: what a sweep reads back. */
  knownRanges(buffer: number, maxBytes: number): { offset: number; length: number }[] {
    const b = this.buffers.get(buffer);
    if (!b) return [];
    const out: { offset: number; length: number }[] = [];
    for (let index = 0; index * PAGE < Math.min(b.length, maxBytes); index++) {
      if (b.pages.get(index) === UNKNOWN) continue;
      const last = out[out.length - 1];
      if (last && last.offset + last.length === index * PAGE) last.length += PAGE;
      else out.push({ offset: index * PAGE, length: PAGE });
    }
    return out;
  }
}
