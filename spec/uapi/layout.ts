/**
 * Struct layouts computed from the declarations in structs.ts by the x86-64
 * C rules gcc applies: a scalar's alignment is its size; a struct member sits
 * at the next multiple of its alignment; a struct's size is rounded up to its
 * largest member alignment; a union's members all start at 0; a flexible array
 * member takes no space but still aligns. Checked against gcc by
 * spec/uapi/layouts.test.ts.
 */
import type { Profile } from './profiles.ts';
import type { Discriminant, FieldDef, FieldType, Scalar, StructDef } from './types.ts';
import { STRUCTS } from './structs.ts';

export const SCALAR_SIZE: { readonly [S in Scalar]: number } = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8, ptr: 8 };

/** A laid-out member. Offsets are relative to the enclosing record. */
export type LayoutNode =
  | { readonly kind: 'scalar'; readonly name: string; readonly offset: number; readonly size: number; readonly align: number; readonly scalar: Scalar; readonly def?: FieldDef }
  | {
      readonly kind: 'array';
      readonly name: string;
      readonly offset: number;
      readonly size: number;
      readonly align: number;
      /** 0 = flexible array member. */
      readonly length: number;
      /** The element, at offset 0. */
      readonly elem: LayoutNode;
      readonly def?: FieldDef;
    }
  | {
      readonly kind: 'record';
      readonly name: string;
      readonly offset: number;
      readonly size: number;
      readonly align: number;
      readonly union: boolean;
      /** '' name: an anonymous struct/union whose members belong to the parent. */
      readonly anonymous: boolean;
      readonly fields: readonly LayoutNode[];
      readonly structName?: string;
      readonly discriminant?: Discriminant;
      readonly def?: FieldDef;
    };

export type RecordNode = Extract<LayoutNode, { kind: 'record' }>;

/** One row of the flattened layout: every named member, nested ones by dotted C path. */
export interface FieldLayoutRow {
  /** C member designator: `a.b` (anonymous unions add no segment). */
  readonly path: string;
  readonly offset: number;
  /** Bytes; 0 for a flexible array member. */
  readonly size: number;
  /** Arrays: the size of one element. */
  readonly elemSize?: number;
}

export interface StructLayout {
  readonly name: string;
  readonly profile: Profile;
  readonly size: number;
  readonly align: number;
  readonly root: RecordNode;
  /** Every named member, in declaration order, depth first. */
  readonly rows: readonly FieldLayoutRow[];
  readonly def: StructDef;
}

export function inProfile(profiles: readonly Profile[] | undefined, profile: Profile): boolean {
  return profiles === undefined || profiles.includes(profile);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function structDefFor(profile: Profile, name: string): StructDef | undefined {
  return STRUCTS.find((s) => s.name === name && inProfile(s.profiles, profile));
}

function layoutType(profile: Profile, type: FieldType, name: string, def: FieldDef | undefined): LayoutNode {
  switch (type.kind) {
    case 'scalar': {
      const size = SCALAR_SIZE[type.type];
      return { kind: 'scalar', name, offset: 0, size, align: size, scalar: type.type, ...(def ? { def } : {}) };
    }
    case 'array': {
      const elem = layoutType(profile, type.of, name, undefined);
      return { kind: 'array', name, offset: 0, size: elem.size * type.length, align: elem.align, length: type.length, elem, ...(def ? { def } : {}) };
    }
    case 'struct': {
      const sd = structDefFor(profile, type.name);
      if (!sd) throw new Error(`struct ${type.name} is not defined for profile ${profile}`);
      const rec = layoutRecord(profile, sd.fields, false, name, def);
      return { ...rec, structName: type.name };
    }
    case 'inline':
      return layoutRecord(profile, type.fields, type.union, name, def, type.discriminant);
  }
}

function layoutRecord(
  profile: Profile,
  fields: readonly FieldDef[],
  union: boolean,
  name: string,
  def: FieldDef | undefined,
  discriminant?: Discriminant,
): RecordNode {
  const out: LayoutNode[] = [];
  let end = 0;
  let align = 1;
  for (const f of fields) {
    if (!inProfile(f.profiles, profile)) continue;
    const node = layoutType(profile, f.type, f.name, f);
    const offset = union ? 0 : alignUp(end, node.align);
    out.push({ ...node, offset });
    end = union ? Math.max(end, node.size) : offset + node.size;
    align = Math.max(align, node.align);
  }
  return {
    kind: 'record',
    name,
    offset: 0,
    size: alignUp(end, align),
    align,
    union,
    anonymous: name === '',
    fields: out,
    ...(discriminant ? { discriminant } : {}),
    ...(def ? { def } : {}),
  };
}

function flatten(node: LayoutNode, base: number, prefix: string, rows: FieldLayoutRow[]): void {
  const offset = base + node.offset;
  const path = node.name === '' ? prefix : prefix === '' ? node.name : `${prefix}.${node.name}`;
  if (node.kind === 'record') {
    if (node.name !== '') rows.push({ path, offset, size: node.size });
    for (const f of node.fields) flatten(f, offset, path, rows);
    return;
  }
  if (node.kind === 'array') {
    rows.push({ path, offset, size: node.size, elemSize: node.elem.size });
    return;
  }
  rows.push({ path, offset, size: node.size });
}

/** Layouts by profile, then struct name (null: the profile lacks it). Looked up per encode and decode, so no key is built per call. */
const cache = new Map<Profile, Map<string, StructLayout | null>>();

/** The layout of a struct in a profile, or undefined when the profile lacks it. */
export function structLayout(profile: Profile, name: string): StructLayout | undefined {
  let byName = cache.get(profile);
  if (byName === undefined) {
    byName = new Map();
    cache.set(profile, byName);
  }
  const hit = byName.get(name);
  if (hit !== undefined) return hit ?? undefined;
  const key = name;
  const def = structDefFor(profile, name);
  if (!def) {
    byName.set(key, null);
    return undefined;
  }
  const root = layoutRecord(profile, def.fields, false, name, undefined);
  const rows: FieldLayoutRow[] = [];
  for (const f of root.fields) flatten(f, 0, '', rows);
  const layout: StructLayout = { name, profile, size: root.size, align: root.align, root: { ...root, structName: name }, rows, def };
  byName.set(key, layout);
  return layout;
}

/** Like structLayout, but throws for a struct the profile lacks (for spec-internal use). */
export function requireLayout(profile: Profile, name: string): StructLayout {
  const l = structLayout(profile, name);
  if (!l) throw new Error(`struct ${name} does not exist in profile ${profile}`);
  return l;
}

/** offsetofend(struct, path) in a profile. */
export function offsetofend(profile: Profile, struct: string, path: string): number {
  const row = requireLayout(profile, struct).rows.find((r) => r.path === path);
  if (!row) throw new Error(`struct ${struct} has no member ${path} in profile ${profile}`);
  return row.offset + row.size;
}

/** Names of every struct the profile declares. */
export function structNames(profile: Profile): string[] {
  return STRUCTS.filter((s) => inProfile(s.profiles, profile)).map((s) => s.name);
}
