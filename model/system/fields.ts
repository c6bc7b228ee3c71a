/**
 * Reading an ioctl request's struct the way the kernel sees it: fields the
 * request leaves out are zero, and a `size` (iommufd) or `argsz` (VFIO) below
 * the struct's full size zero-extends — copy_struct_from_user reads only the
 * first `size` bytes, so a field that ends beyond them reads as zero.
 */
import type { IoctlArg, SingleRequest, StructValue } from '../../spec/contract/types.ts';
import { commandByName, structLayout, testOpByValue, testOpByName } from '../../spec/uapi/index.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';

interface CommandShape {
  readonly struct: string | undefined;
  readonly size: number;
  /** Field path → offset of its end. */
  readonly ends: ReadonlyMap<string, number>;
}

const shapes: { [P in Profile]: Map<string, CommandShape> } = { '6.12': new Map(), '7.3': new Map() };

/** A command's struct, full size and field ends in a profile (computed once). */
function shapeOf(profile: Profile, cmd: string): CommandShape {
  let sh = shapes[profile].get(cmd);
  if (!sh) {
    const struct = commandByName(profile, cmd)?.struct;
    const layout = struct ? structLayout(profile, struct) : undefined;
    const ends = new Map<string, number>();
    if (layout) for (const row of layout.rows) ends.set(row.path, row.offset + row.size);
    sh = { struct, size: layout?.size ?? Infinity, ends };
    shapes[profile].set(cmd, sh);
  }
  return sh;
}

const splitCache = new Map<string, readonly string[]>();
function split(path: string): readonly string[] {
  let p = splitCache.get(path);
  if (!p) {
    p = path.split('.');
    splitCache.set(path, p);
  }
  return p;
}

export class Fields {
  constructor(
    private readonly ends: ReadonlyMap<string, number>,
    readonly values: StructValue,
    private readonly limit: number,
  ) {}

  private raw(path: string): unknown {
    let v: unknown = this.values;
    for (const part of split(path)) {
      if (typeof v !== 'object' || v === null) return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  }

  private visible(path: string): boolean {
    const end = this.ends.get(path);
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
  const sh = shapeOf(profile, cmd);
  const sizeField = arg.fields['size'] ?? arg.fields['argsz'];
  let limit = typeof sizeField === 'number' ? Math.min(sizeField, sh.size) : sh.size;
  if (arg.truncate !== undefined) limit = Math.min(limit, arg.truncate);
  return new Fields(sh.ends, arg.fields, limit);
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
