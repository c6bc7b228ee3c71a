/**
 * fast-check arbitraries of struct values, from the profile's layouts: every
 * scalar over its full range, fixed arrays at full length, one member per
 * union. For round-trip tests and as a base for command generators (which
 * override fields with `fc.record` values of their own).
 */
import fc from 'fast-check';
import type { Profile } from '../uapi/profiles.ts';
import { structLayout, type LayoutNode, type RecordNode } from '../uapi/layout.ts';
import { CodecError, type FieldValue, type StructValue } from './codec.ts';

/** An arbitrary value of one laid-out member. */
export function arbLayoutNode(node: LayoutNode): fc.Arbitrary<FieldValue> {
  switch (node.kind) {
    case 'scalar':
      switch (node.scalar) {
        case 'u8':
          return fc.integer({ min: 0, max: 0xff });
        case 'u16':
          return fc.integer({ min: 0, max: 0xffff });
        case 'u32':
          return fc.integer({ min: 0, max: 0xffffffff });
        case 's32':
          return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        case 'u64':
        case 'ptr':
          return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
        case 's64':
          return fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
      }
      throw new Error('unreachable');
    case 'array':
      return fc.array(arbLayoutNode(node.elem), { minLength: node.length, maxLength: node.length });
    case 'record':
      return arbRecord(node);
  }
}

/** A record's value; members of anonymous records are merged into it, unions get one member. */
export function arbRecord(rec: RecordNode): fc.Arbitrary<StructValue> {
  const members = rec.fields.filter((f) => !(f.kind === 'array' && f.length === 0)); // flexible arrays are not encoded
  if (members.length === 0) return fc.constant({});
  if (rec.union) return fc.oneof(...members.map(memberArb));
  return fc.tuple(...members.map(memberArb)).map((vs) => Object.assign({}, ...vs) as StructValue);
}

function memberArb(f: LayoutNode): fc.Arbitrary<StructValue> {
  if (f.kind === 'record' && f.anonymous) return arbRecord(f);
  return arbLayoutNode(f).map((v) => ({ [f.name]: v }));
}

/** Arbitrary values of struct `name` in the profile. */
export function arbStruct(profile: Profile, name: string): fc.Arbitrary<StructValue> {
  const layout = structLayout(profile, name);
  if (!layout) throw new CodecError('', `struct ${name} does not exist in profile ${profile}`);
  return arbRecord(layout.root);
}
