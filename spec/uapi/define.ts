/** Small constructors that keep the struct tables in structs.ts close to the C text. */
import type { Discriminant, FieldDef, FieldRole, FieldType, Pointee, Scalar } from './types.ts';
import type { Profile } from './profiles.ts';

export interface FieldOpts {
  readonly profiles?: readonly Profile[];
  readonly flags?: string;
  readonly enum?: string;
  readonly pointee?: Pointee;
  readonly doc?: string;
}

export function scalar(type: Scalar): FieldType {
  return { kind: 'scalar', type };
}

export function array(of: Scalar | FieldType, length: number): FieldType {
  return { kind: 'array', of: typeof of === 'string' ? scalar(of) : of, length };
}

export function structRef(name: string): FieldType {
  return { kind: 'struct', name };
}

export function field(name: string, type: Scalar | FieldType, role: FieldRole, opts: FieldOpts = {}): FieldDef {
  return { name, type: typeof type === 'string' ? scalar(type) : type, role, ...opts };
}

/** A union member or nested struct written inline (anonymous when name is ''). */
export function inline(
  name: string,
  union: boolean,
  fields: readonly FieldDef[],
  role: FieldRole,
  opts: FieldOpts & { readonly discriminant?: Discriminant } = {},
): FieldDef {
  const { discriminant, ...rest } = opts;
  const type: FieldType = discriminant ? { kind: 'inline', union, fields, discriminant } : { kind: 'inline', union, fields };
  return { name, type, role, ...rest };
}

// The common leading fields.
export const sizeField = (): FieldDef => field('size', 'u32', 'size', { doc: 'sizeof(struct) as the caller knows it' });
export const argszField = (): FieldDef => field('argsz', 'u32', 'argsz', { doc: 'size of the caller buffer' });
export const reserved = (name = '__reserved', type: Scalar | FieldType = 'u32', opts: FieldOpts = {}): FieldDef =>
  field(name, type, 'reserved', { doc: 'must be 0', ...opts });
