/**
 * The kernel-side view of an ioctl's argument struct (struct iommufd_ucmd's
 * `cmd`): a buffer of the kernel's struct size, read and written by field name.
 *
 * Layouts come from spec/uapi (the profile's structs, checked against gcc),
 * the only source.
 *
 * Public API: type Layout, layoutOf(struct), class UcmdStruct { u32, u16, u64, set, bytes },
 * decodeUserIoctl(mem, profile, fd, cmd, arg) (spec/abi's decodeIoctl over the
 * argument's readable prefix), userArgOf(mem, arg, profile) -> spec/abi UserArg
 * (that prefix as a copy), readUserPrefix.
 */
import { offsetofend as specOffsetofend, structLayout } from '../../spec/uapi/layout.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { commandsFor } from '../../spec/uapi/lookup.ts';
import { requireLayout } from '../../spec/uapi/layout.ts';
import { decodeIoctl, type DispatchOptions, type IoctlDecode, type UserArg } from '../../spec/abi/dispatch.ts';
import type { FdKind } from '../../spec/uapi/types.ts';
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
  /** copy_from_user into dst[at, at+length): false (EFAULT, nothing copied) if any byte is not readable. */
  copyFromUserInto(va: bigint, dst: Uint8Array, at: number, length: number): boolean;
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
  const n = readUserPrefixInto(mem, addr, limit, zeroFrom, grown);
  return n === null ? null : n.bytes.slice(0, n.length);
}

/**
 * readUserPrefix into a buffer `grow` provides (at least `size` bytes, old
 * contents kept): the buffer and how many bytes were read, or null when
 * none were.
 */
function readUserPrefixInto(mem: UserMemory, addr: bigint, limit: number, zeroFrom: number, grow: (size: number, old?: Uint8Array) => Uint8Array): { bytes: Uint8Array; length: number } | null {
  let buf = grow(Math.min(limit, PAGE));
  let done = 0;
  let pageOff = Number(addr & 4095n);
  while (done < limit) {
    const n = Math.min(limit - done, PAGE - pageOff);
    if (buf.length < done + n) buf = grow(done + n, buf);
    if (!mem.copyFromUserInto(done === 0 ? addr : addr + BigInt(done), buf, done, n)) break;
    const from = Math.max(0, zeroFrom - done);
    done += n;
    pageOff = 0;
    if (from < n && !allZero(buf, done - n + from, done)) break;
  }
  return done ? { bytes: buf, length: done } : null;
}

/** A buffer of at least `size` bytes holding what `old` held. */
function grown(size: number, old?: Uint8Array): Uint8Array {
  if (old && old.length >= size) return old;
  const bigger = new Uint8Array(Math.max(size, (old?.length ?? 0) * 2));
  if (old) bigger.set(old);
  return bigger;
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The ioctl argument for spec/abi's decodeIoctl as a value of its own (a copy
 * of the readable prefix): the pointer value and the bytes readable behind
 * it, up to the larger of the caller's u32 size/argsz and the profile's
 * largest struct.
 */
export function userArgOf(mem: UserMemory, arg: bigint, profile: Profile): UserArg {
  const max = maxStructSize(profile);
  return { value: arg, readable: readUserPrefix(mem, arg, Math.max(userSize(mem, arg), max), max) };
}

/** get_user of the struct's leading u32 size/argsz (0 when unreadable: the decode then fails on the prefix). */
function userSize(mem: UserMemory, arg: bigint): number {
  return mem.copyFromUserInto(arg, sizeScratch, 0, 4) ? getU32(sizeScratch, 0) : 0;
}
const sizeScratch = new Uint8Array(4);

/** Where argument prefixes are read: grown as needed, never handed out beyond one decode. */
let prefixScratch: Uint8Array = new Uint8Array(PAGE);
let prefixBusy = false;

function growPrefix(size: number, old?: Uint8Array): Uint8Array {
  prefixScratch = grown(size, old ?? prefixScratch);
  return prefixScratch;
}

/**
 * spec/abi's decodeIoctl over the argument as the process's memory holds
 * it: the pointer value and the bytes readable behind it, up to the larger
 * of the caller's u32 size/argsz (the struct's first field) and the
 * profile's largest struct. The prefix is read into a scratch buffer that
 * only this decode sees (the decode copies what it keeps), which spares an
 * allocation per ioctl; a nested decode gets its own copy.
 */
export function decodeUserIoctl(mem: UserMemory, profile: Profile, fd: FdKind, cmd: number, arg: bigint, opts?: DispatchOptions): IoctlDecode {
  const max = maxStructSize(profile);
  const limit = Math.max(userSize(mem, arg), max);
  if (prefixBusy) return decodeIoctl(profile, fd, cmd, { value: arg, readable: readUserPrefix(mem, arg, limit, max) }, opts);
  prefixBusy = true;
  try {
    const read = readUserPrefixInto(mem, arg, limit, max, growPrefix);
    return decodeIoctl(profile, fd, cmd, { value: arg, readable: read === null ? null : read.bytes.subarray(0, read.length) }, opts);
  } finally {
    prefixBusy = false;
  }
}
