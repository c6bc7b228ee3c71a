/**
 * The kernel-side view of an ioctl's argument struct (struct iommufd_ucmd's
 * `cmd`): a buffer of the kernel's struct size, read and written by field name.
 *
 * Layouts come from spec/uapi (the profile's structs, checked against gcc),
 * the only source.
 *
 * Public API: type Layout, layoutOf(struct), class UcmdStruct { u32, u16, u64, set, bytes },
 * userArgOf(mem, arg, profile) -> spec/abi UserArg (the readable prefix of the
 * argument), readUserPrefix.
 */
import { offsetofend as specOffsetofend, structLayout } from '../../spec/uapi/layout.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { commandsFor } from '../../spec/uapi/lookup.ts';
import { requireLayout } from '../../spec/uapi/layout.ts';
import type { UserArg } from '../../spec/abi/dispatch.ts';
import { getI32, getU16, getU32, getU64, setU16, setU32, setU64 } from '../../spec/abi/le.ts';

export type CType = 'u8' | 'u16' | 'u32' | 's32' | 'u64';

export interface FieldLayout {
  readonly offset: number;
  readonly type: CType;
}

export interface Layout {
  readonly name: string;
  readonly size: number;
  readonly fields: ReadonlyMap<string, FieldLayout>;
  /** Where any member (scalars, arrays, nested structs; dotted C path) sits: its offset and size in bytes. */
  readonly spans: ReadonlyMap<string, { readonly offset: number; readonly size: number }>;
  /** offsetofend of each field, for IOCTL_OP's min_size. */
  offsetofend(field: string): number;
}

const SPEC_CACHE = new Map<string, Layout>();

/** The struct's layout in the profile from spec/uapi (gcc-checked), as a Layout. */
function specLayout(struct: string, profile: Profile): Layout | undefined {
  const key = `${profile}/${struct}`;
  const hit = SPEC_CACHE.get(key);
  if (hit) return hit;
  const sl = structLayout(profile, struct);
  if (!sl) return undefined;
  const fields = new Map<string, FieldLayout>();
  const spans = new Map<string, { offset: number; size: number }>();
  const byName: { [n: number]: CType } = { 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' };
  for (const row of sl.rows) {
    spans.set(row.path, { offset: row.offset, size: row.size });
    const type = byName[row.size];
    if (type && row.elemSize === undefined) fields.set(row.path, { offset: row.offset, type });
  }
  const layout: Layout = {
    name: struct,
    size: sl.size,
    fields,
    spans,
    offsetofend: (field: string) => specOffsetofend(profile, struct, field),
  };
  SPEC_CACHE.set(key, layout);
  return layout;
}

/** The kernel struct's layout: spec/uapi's for the profile (the only source). */
export function layoutOf(struct: string, profile: Profile = '6.12'): Layout {
  const l = specLayout(struct, profile);
  if (!l) throw new Error(`no layout for struct ${struct} in profile ${profile}`);
  return l;
}

/** A struct in kernel memory, accessed by field name. */
export class UcmdStruct {
  readonly bytes: Uint8Array;

  constructor(
    readonly layout: Layout,
    bytes?: Uint8Array,
  ) {
    this.bytes = bytes ?? new Uint8Array(layout.size);
  }

  private field(name: string): FieldLayout {
    const f = this.layout.fields.get(name);
    if (!f) throw new Error(`${this.layout.name} has no field ${name}`);
    return f;
  }

  /** A u8/u16/u32/s32 field. */
  num(name: string): number {
    const f = this.field(name);
    switch (f.type) {
      case 'u8':
        return this.bytes[f.offset]!;
      case 'u16':
        return getU16(this.bytes, f.offset);
      case 'u32':
        return getU32(this.bytes, f.offset);
      case 's32':
        return getI32(this.bytes, f.offset);
      case 'u64':
        throw new Error(`${this.layout.name}.${name} is u64; use big()`);
    }
  }

  /** A u64 field. */
  big(name: string): bigint {
    const f = this.field(name);
    if (f.type !== 'u64') throw new Error(`${this.layout.name}.${name} is not u64`);
    return getU64(this.bytes, f.offset);
  }

  /** The bytes of any member (an array such as __reserved[3], a nested struct), as a view into the struct. */
  fieldBytes(name: string): Uint8Array {
    const s = this.layout.spans.get(name);
    if (!s) throw new Error(`${this.layout.name} has no member ${name}`);
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** offsetof(struct, member): where a member starts (for a single-field copy_to_user). */
  offsetOf(name: string): number {
    const s = this.layout.spans.get(name);
    if (!s) throw new Error(`${this.layout.name} has no member ${name}`);
    return s.offset;
  }

  set(name: string, value: number | bigint): void {
    const f = this.field(name);
    switch (f.type) {
      case 'u8':
        this.bytes[f.offset] = Number(value);
        break;
      case 'u16':
        setU16(this.bytes, f.offset, Number(value));
        break;
      case 'u32':
      case 's32':
        // The low 32 bits, as the C assignment keeps them (a bigint may carry more).
        setU32(this.bytes, f.offset, typeof value === 'number' ? value : Number(BigInt.asUintN(32, value)));
        break;
      case 'u64':
        setU64(this.bytes, f.offset, BigInt(value));
        break;
    }
  }
}

// ---- the user argument as spec/abi's dispatcher sees it --------------------------

/** What of the process's memory the dispatcher can read (impl/process Process). */
export interface UserMemory {
  copyFromUser(va: bigint, length: number): Uint8Array | null;
}

const MAX_STRUCT = new Map<Profile, number>();

/** The largest argument struct of the profile's commands (every ksize and minsz is at most this). */
function maxStructSize(profile: Profile): number {
  let max = MAX_STRUCT.get(profile);
  if (max === undefined) {
    max = 0;
    for (const c of commandsFor(profile)) if (c.struct) max = Math.max(max, requireLayout(profile, c.struct).size);
    MAX_STRUCT.set(profile, max);
  }
  return max;
}

const PAGE = 4096;

/**
 * The readable prefix of [addr, addr + limit): page by page, stopping at the
 * first page that faults, as the kernel's user accesses do. Scanning also
 * stops after the first page with a non-zero byte at or beyond `zeroFrom`:
 * copy_struct_from_user returns E2BIG there (or at an earlier non-zero byte)
 * whatever follows, so a huge zero-tail `size` reads only what it must.
 */
export function readUserPrefix(mem: UserMemory, addr: bigint, limit: number, zeroFrom: number): Uint8Array | null {
  let chunks: Uint8Array[] | undefined;
  let first: Uint8Array | undefined;
  let done = 0;
  let pageOff = Number(addr & 4095n);
  while (done < limit) {
    const n = Math.min(limit - done, PAGE - pageOff);
    const chunk = mem.copyFromUser(done === 0 ? addr : addr + BigInt(done), n);
    if (!chunk) break;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
    const from = Math.max(0, zeroFrom - done);
    done += n;
    pageOff = 0;
    if (from < n && !allZero(chunk, from)) break;
  }
  if (!done) return null;
  if (chunks === undefined) return first!;
  const out = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The ioctl argument for spec/abi's decodeIoctl: the pointer value and the
 * bytes readable behind it, up to the larger of the caller's u32 size/argsz
 * (the struct's first field) and the profile's largest struct.
 */
export function userArgOf(mem: UserMemory, arg: bigint, profile: Profile): UserArg {
  const max = maxStructSize(profile);
  const head = mem.copyFromUser(arg, 4);
  const usize = head ? (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0 : 0;
  return { value: arg, readable: readUserPrefix(mem, arg, Math.max(usize, max), max) };
}
