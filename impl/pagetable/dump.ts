/**
 * The canonical text form of a page table, the same one the kernel harness
 * prints (conformance/kernel/pt-harness/harness.c): walk from the root with
 * the format's own decoding, tables in pre-order; a table begins with
 * `L<level> N<entries>` and ends with `E`; a non-zero entry is `<index> <hex>`,
 * a run of entries whose values step by a constant is `<index>*<count> <first>
 * <step>`, and a table pointer is `<index> T <hex>` with its address bits
 * cleared (the two allocators place tables at different addresses), followed
 * by the child table. Test and tooling path: BigInt is fine here.
 */
import { PT_ENTRY_TABLE } from './fmt/types.ts';
import type { IoPageTable } from './table.ts';

const M64 = (1n << 64n) - 1n;

export interface CanonicalDump {
  readonly lines: string[];
  /** Table pages (4 KiB units) the table holds. */
  readonly pages: number;
}

class RunWriter {
  readonly lines: string[] = [];
  private index = 0;
  private count = 0;
  private first = 0n;
  private stride = 0n;

  private flush(): void {
    if (this.count === 1) this.lines.push(`${this.index} 0x${this.first.toString(16)}`);
    else if (this.count > 1) this.lines.push(`${this.index}*${this.count} 0x${this.first.toString(16)} 0x${this.stride.toString(16)}`);
    this.count = 0;
  }

  begin(level: number, n: number): void {
    this.flush();
    this.lines.push(`L${level} N${n}`);
  }

  entry(index: number, value: bigint): void {
    if (this.count >= 1 && index === this.index + this.count) {
      if (this.count === 1) {
        this.stride = (value - this.first) & M64;
        this.count = 2;
        return;
      }
      const last = (this.first + this.stride * BigInt(this.count - 1)) & M64;
      if (((value - last) & M64) === this.stride) {
        this.count++;
        return;
      }
    }
    this.flush();
    this.index = index;
    this.first = value;
    this.stride = 0n;
    this.count = 1;
  }

  table(index: number, value: bigint): void {
    this.flush();
    this.lines.push(`${index} T 0x${value.toString(16)}`);
  }

  end(): void {
    this.flush();
    this.lines.push('E');
  }
}

/** Canonical dump of `pt` (see the file comment). */
export function canonicalDump(pt: IoPageTable): CanonicalDump {
  const u32 = pt.mem.u32;
  const w = new RunWriter();
  const addrMask = pt.fmt.tableAddrMask;
  const walk = (table: number, level: number): void => {
    const n = pt.g.entries[level] as number;
    w.begin(level, n);
    const base = table >>> 2;
    for (let i = 0; i < n; i++) {
      const lo = u32[base + 2 * i] as number;
      const hi = u32[base + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const value = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      if (pt.fmt.entryType(lo, hi, level) === PT_ENTRY_TABLE) {
        w.table(i, value & ~addrMask & M64);
        walk(pt.tablePa(lo, hi), level - 1);
      } else {
        w.entry(i, value);
      }
    }
    w.end();
  };
  walk(pt.root, pt.topLevel);
  return { lines: w.lines, pages: pt.tablePages };
}
