/**
 * Reading an ioctl request's struct the way the kernel sees it: fields the
 * request leaves out are zero, and a `size` (iommufd) or `argsz` (VFIO) below
 * the struct's full size zero-extends — copy_struct_from_user reads only the
 * first `size` bytes, so a field that ends beyond them reads as zero.
 */
import type { IoctlArg, SingleRequest, StructValue } from '../../spec/contract/types.ts';
import { commandByName, structLayout, testOpByValue, testOpByName } from '../../spec/uapi/index.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';

const offsetCache = new Map<string, Map<string, number>>();

/** Offset of the end of a field (dotted C path), per profile and struct. */
function fieldEnd(profile: Profile, struct: string, path: string): number | undefined {
  const key = `${profile}:${struct}`;
  let m = offsetCache.get(key);
  if (!m) {
    m = new Map();
    const layout = structLayout(profile, struct);
    if (layout) for (const row of layout.rows) m.set(row.path, row.offset + row.size);
    offsetCache.set(key, m);
  }
  return m.get(path);
}

export class Fields {
  private readonly limit: number;
  constructor(
    readonly profile: Profile,
    readonly struct: string | undefined,
    readonly values: StructValue,
    limit: number,
  ) {
    this.limit = limit;
  }

  private raw(path: string): unknown {
    let v: unknown = this.values;
    for (const part of path.split('.')) {
      if (typeof v !== 'object' || v === null) return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  }

  private visible(path: string): boolean {
    if (!this.struct) return true;
    const end = fieldEnd(this.profile, this.struct, path);
    return end === undefined || end <= this.limit;
  }

  /** The request gives this field (or union member). */
  has(path: string): boolean {
    return this.raw(path) !== undefined;
  }

  /** A 32-bit (or smaller) field as a number; 0 when absent or beyond the size. */
  num(path: string): number {
    if (!this.visible(path)) return 0;
    const v = this.raw(path);
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(BigInt.asUintN(32, v));
    return 0;
  }

  /** A u64 field as a bigint (a pointer argument reads as non-zero). */
  big(path: string): bigint {
    if (!this.visible(path)) return 0n;
    const v = this.raw(path);
    if (typeof v === 'bigint') return BigInt.asUintN(64, v);
    if (typeof v === 'number') return BigInt(v);
    if (typeof v === 'object' && v !== null) return 1n;
    return 0n;
  }
}

/** The struct of a command (iommufd or VFIO) in the profile. */
export function structOf(profile: Profile, cmd: string): string | undefined {
  return commandByName(profile, cmd)?.struct;
}

export function fieldsOf(profile: Profile, cmd: string, arg: IoctlArg): Fields | undefined {
  if (arg.kind !== 'struct') return undefined;
  const struct = structOf(profile, cmd);
  const full = struct ? (structLayout(profile, struct)?.size ?? Infinity) : Infinity;
  const sizeField = arg.fields['size'] ?? arg.fields['argsz'];
  let limit = typeof sizeField === 'number' ? Math.min(sizeField, full) : full;
  if (arg.truncate !== undefined) limit = Math.min(limit, arg.truncate);
  return new Fields(profile, struct, arg.fields, limit);
}

/** IOMMU_TEST_CMD's op as a test op name (a number or a name in the request). */
export function testOpOf(profile: Profile, fields: StructValue): string | undefined {
  const op = fields['op'];
  if (typeof op === 'string') return testOpByName(profile, op)?.name;
  if (typeof op === 'number') return testOpByValue(profile, op)?.name;
  return undefined;
}

/**
 * The system event type of a request: the ioctl's command name (the test op
 * name for IOMMU_TEST_CMD), or the op itself for every other request.
 */
export function eventTypeOf(profile: Profile, req: SingleRequest): string {
  if (req.op !== 'ioctl') return req.op;
  if (typeof req.cmd !== 'string') return 'ioctl';
  if (req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct') return testOpOf(profile, req.arg.fields) ?? 'IOMMU_TEST_CMD';
  return req.cmd;
}
