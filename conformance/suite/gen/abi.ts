/**
 * The ABI layer of generation, from the uAPI data alone (spec/uapi): for any
 * command with a struct argument, optionally make the argument malformed in
 * one of the ways the "General ioctl format" of include/uapi/linux/iommufd.h
 * (and VFIO's argsz convention) describes, and record the defect with the
 * errno the uAPI documents for it:
 *
 *   non-zero reserved field, unknown flag bit  → EOPNOTSUPP (iommufd) / EINVAL (VFIO)
 *   unknown bit in an IOMMU_TEST_CMD op's own flags word (TestOpDef.memberFlags)
 *                                              → the errno its handler gives (EOPNOTSUPP)
 *   size below the minimum                     → EINVAL (checked before the handler)
 *   size above sizeof, non-zero tail           → E2BIG  (iommufd; VFIO structs read with copy_struct_from_user)
 *   size above sizeof, zero tail; size between the minimum and sizeof → no defect (accepted as the full struct)
 *   a command's request number with other type, direction or size bits
 *   (its nr kept: otherRequest)               → ENOTTY before anything runs
 *   (iommufd_fops_ioctl: op->ioctl_num != cmd; VFIO's dispatchers switch on
 *   the whole number)
 *   argument in read-only memory, for a command whose answer names what it
 *   made (CommandDef.answerFault 'unwinds'; for IOMMU_TEST_CMD the op's,
 *   TestOpDef.answerFault)                    → EFAULT, and nothing made stays
 *   (only where the adapter serves readOnly arguments: capabilities.readOnlyArgs;
 *   for an attach, whose fault detaches ('detaches'), only where the caller
 *   knows the device is unattached, so the detach is an unwind)
 *
 * Which fields are reserved or flags, the flag bits each profile knows, the
 * minimum size and sizeof all come from spec/uapi.
 */
import fc from 'fast-check';
import type { CommandDef } from '../../../spec/uapi/types.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { commandByName, commandMinSize, commandsFor, commandStructSize, enumValue, flagMask, testOpByName, testOpByValue } from '../../../spec/uapi/lookup.ts';
import { requireLayout, structDefFor, type LayoutNode } from '../../../spec/uapi/layout.ts';
import type { Defect, Tmpl } from '../step.ts';

export type AbiChoice =
  | { readonly kind: 'none' }
  | { readonly kind: 'reserved'; readonly k: number; readonly value: number }
  | { readonly kind: 'flags'; readonly k: number; readonly bit: number }
  /** An unknown bit in the flags word of an IOMMU_TEST_CMD op's member (TestOpDef.memberFlags). */
  | { readonly kind: 'memberFlags'; readonly bit: number }
  | { readonly kind: 'tail'; readonly extra: number; readonly nonzero: boolean }
  | { readonly kind: 'short'; readonly k: number }
  | { readonly kind: 'shortOk'; readonly k: number }
  | { readonly kind: 'readOnly' }
  | { readonly kind: 'double'; readonly a: AbiChoice; readonly b: AbiChoice };

const reservedDefect: fc.Arbitrary<AbiChoice> = fc.record({ kind: fc.constant('reserved' as const), k: fc.nat(7), value: fc.constantFrom(1, 0x80000000, 0xffff) });
const flagsDefect: fc.Arbitrary<AbiChoice> = fc.record({ kind: fc.constant('flags' as const), k: fc.nat(7), bit: fc.oneof(fc.constant(31), fc.nat(31)) });
const memberFlagsDefect: fc.Arbitrary<AbiChoice> = fc.record({ kind: fc.constant('memberFlags' as const), bit: fc.oneof(fc.constant(31), fc.nat(31)) });
const valueDefect: fc.Arbitrary<AbiChoice> = fc.oneof(reservedDefect, flagsDefect);
const sizeChoice: fc.Arbitrary<AbiChoice> = fc.oneof(
  fc.record({ kind: fc.constant('tail' as const), extra: fc.constantFrom(4, 8, 16, 64), nonzero: fc.boolean() }),
  fc.record({ kind: fc.constant('short' as const), k: fc.nat(64) }),
  fc.record({ kind: fc.constant('shortOk' as const), k: fc.nat(64) }),
);
const single: fc.Arbitrary<AbiChoice> = fc.oneof(valueDefect, sizeChoice);

/** Mostly well-formed; sometimes one defect, rarely two (errno-order sets). */
export function abiChoiceArb(rate: number): fc.Arbitrary<AbiChoice> {
  const none = fc.constant<AbiChoice>({ kind: 'none' });
  if (rate <= 0) return none;
  return fc.oneof(
    { weight: Math.max(1, Math.round(100 - rate * 100)), arbitrary: none },
    { weight: Math.max(1, Math.round(rate * 85)), arbitrary: single },
    { weight: Math.max(1, Math.round(rate * 15)), arbitrary: fc.record({ kind: fc.constant('double' as const), a: valueDefect, b: fc.oneof(valueDefect, sizeChoice) }) },
  );
}

/**
 * The ABI choices of one command: only the defects its struct can carry (a
 * reserved-field defect for a struct without reserved fields, or an unknown
 * flag for one without a flags word, would be a well-formed call), and the
 * value defects (each command's own flags and reserved checks) weighted above
 * the size defects (the one dispatch path every command shares). At the same
 * rate, a struct whose only value field is its flags word gets an unknown flag
 * as often as another struct gets any value defect.
 */
export function abiChoiceFor(profile: Profile, cmdName: string, rate: number, readOnlyArgs = false, detaching = false, testOp?: string): fc.Arbitrary<AbiChoice> {
  const cmd = commandByName(profile, cmdName);
  const facts = cmd && factsOf(profile, cmd);
  const none = fc.constant<AbiChoice>({ kind: 'none' });
  if (rate <= 0 || !facts) return none;
  const values: fc.Arbitrary<AbiChoice>[] = [];
  if (facts.uapi && facts.reserved.length > 0) values.push(reservedDefect);
  if (facts.uapi && facts.flags.some((f) => (f.mask >>> 0) !== 0xffffffff)) values.push(flagsDefect);
  if (testOp !== undefined && memberFlagsOf(profile, testOp)) values.push(memberFlagsDefect);
  const value = values.length > 0 ? fc.oneof(...values) : undefined;
  const single = value ? fc.oneof({ weight: 2, arbitrary: value }, { weight: 1, arbitrary: sizeChoice }) : sizeChoice;
  const choices = [
    { weight: Math.max(1, Math.round(100 - rate * 100)), arbitrary: none },
    { weight: Math.max(1, Math.round(rate * 85)), arbitrary: single },
    { weight: Math.max(1, Math.round(rate * 15)), arbitrary: fc.record({ kind: fc.constant('double' as const), a: value ?? valueDefect, b: fc.oneof(value ?? valueDefect, sizeChoice) }) },
  ];
  // A read-only argument alone (with another defect, that one's errno comes first), about as often
  // as the value and size defects together: its unwinding is a whole error path of each command.
  // An older caller's struct, no defect but the other ABI an extensible command keeps (a size
  // between its minimum and sizeof): about half as often as the defects together.
  // An unknown bit of a test op's member flags alone, as often again: it is that op's own refusal
  // path, which the command's shared defects (size, tail) never reach.
  if (testOp !== undefined && memberFlagsOf(profile, testOp)) choices.push({ weight: Math.max(1, Math.round(rate * 50)), arbitrary: memberFlagsDefect });
  if (facts.min < facts.size) choices.push({ weight: Math.max(1, Math.round(rate * 50)), arbitrary: fc.constant<AbiChoice>({ kind: 'shortOk', k: 0 }) });
  const answerFault = testOp !== undefined ? testOpByName(profile, testOp)?.answerFault : cmd.answerFault;
  if (readOnlyArgs && (answerFault === 'unwinds' || (detaching && answerFault === 'detaches'))) choices.push({ weight: Math.max(1, Math.round(rate * 60)), arbitrary: fc.constant<AbiChoice>({ kind: 'readOnly' }) });
  return fc.oneof(...choices);
}

/** A test op's member flags word: its name, the bits its handler accepts, and the errno for any other. */
interface MemberFlags {
  readonly member: string;
  readonly field: string;
  readonly mask: number;
  readonly errno: string;
}

const memberFlagsCache = new Map<string, MemberFlags | null>();

function memberFlagsOf(profile: Profile, testOp: string): MemberFlags | undefined {
  const key = `${profile}:${testOp}`;
  const hit = memberFlagsCache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const def = testOpByName(profile, testOp);
  let facts: MemberFlags | null = null;
  if (def?.memberFlags && def.member) {
    const find = (n: LayoutNode): LayoutNode | undefined => (n.kind !== 'record' ? undefined : n.name === def.member ? n : n.fields.map(find).find((x) => x !== undefined));
    const rec = find(requireLayout(profile, 'iommu_test_cmd').root);
    const word = rec?.kind === 'record' ? rec.fields.find((n) => n.kind === 'scalar' && n.def?.role === 'flags' && n.def.flags) : undefined;
    if (word?.def?.flags) {
      const also = (def.memberFlags.alsoAccepts ?? []).reduce((acc, name) => (acc | (enumValue(profile, name) ?? 0)) >>> 0, 0);
      facts = { member: def.member, field: word.name, mask: (flagMask(profile, word.def.flags, { includeTest: true }) | also) >>> 0, errno: def.memberFlags.errno };
    }
  }
  memberFlagsCache.set(key, facts);
  return facts ?? undefined;
}

interface StructFacts {
  readonly reserved: readonly LayoutNode[];
  readonly flags: readonly { node: LayoutNode; mask: number }[];
  readonly size: number;
  readonly min: number;
  readonly lenField: 'size' | 'argsz';
  /** VFIO convention (EINVAL) or iommufd's (EOPNOTSUPP) for unsupported values. */
  readonly valueErrno: 'EINVAL' | 'EOPNOTSUPP';
  /** A non-zero byte past sizeof is refused (E2BIG). */
  readonly tailChecked: boolean;
  readonly uapi: boolean;
  /** The top-level scalar members that begin at or past the minimum size (what an older caller's struct lacks). */
  readonly past: readonly LayoutNode[];
}

const factsCache = new Map<string, StructFacts | null>();

function factsOf(profile: Profile, cmd: CommandDef): StructFacts | undefined {
  const key = `${profile}:${cmd.name}`;
  const hit = factsCache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  let facts: StructFacts | null = null;
  if (cmd.struct && (cmd.arg === 'extensible' || cmd.arg === 'vfio-argsz')) {
    const layout = requireLayout(profile, cmd.struct);
    const def = structDefFor(profile, cmd.struct);
    const top = layout.root.fields;
    const roleOf = (n: LayoutNode): string | undefined => n.def?.role;
    const reserved = top.filter((n) => roleOf(n) === 'reserved' && /reserved/.test(n.name));
    const flags = top
      .filter((n) => roleOf(n) === 'flags' && n.kind === 'scalar')
      .map((node) => ({ node, mask: node.def?.flags ? flagMask(profile, node.def.flags, { includeTest: true }) : 0 }));
    facts = {
      reserved,
      flags,
      size: commandStructSize(profile, cmd) ?? layout.size,
      min: commandMinSize(profile, cmd) ?? layout.size,
      lenField: cmd.arg === 'extensible' ? 'size' : 'argsz',
      valueErrno: def?.header === 'linux/vfio.h' ? 'EINVAL' : 'EOPNOTSUPP',
      tailChecked: cmd.arg === 'extensible' || cmd.vfioTail === 'copy-struct',
      uapi: def?.header !== 'iommufd_test.h',
      past: top.filter((n) => n.kind === 'scalar' && n.offset >= (commandMinSize(profile, cmd) ?? layout.size)),
    };
  }
  factsCache.set(key, facts);
  return facts ?? undefined;
}

export interface AbiApplied {
  readonly arg: { readonly kind: 'struct'; readonly fields: { readonly [k: string]: Tmpl }; readonly tail?: Uint8Array; readonly readOnly?: true };
  readonly defects: readonly Defect[];
}

/** A scalar member filled with 0x5a bytes. */
function marker(node: LayoutNode): Tmpl {
  return node.size >= 8 ? 0x5a5a5a5a5a5a5a5an : Number((0x5a5a5a5an >> BigInt(32 - node.size * 8)) & 0xffffffffn);
}

function reservedValue(node: LayoutNode, value: number): Tmpl {
  // In an array, the element the value picks (value % length): a check that reads only some of them shows.
  if (node.kind === 'array') return Array.from({ length: node.length }, (_, i) => (i === value % node.length ? value & 0xff || 1 : 0));
  if (node.kind === 'scalar') {
    const bits = node.size * 8;
    const v = bits >= 32 ? value >>> 0 : value & ((1 << bits) - 1) || 1;
    return node.scalar === 'u64' ? BigInt(v) : v;
  }
  return 1;
}

/** CommandDef.answerFault, or for IOMMU_TEST_CMD the op's (TestOpDef.answerFault). */
function answerFaultOf(profile: Profile, cmd: CommandDef, fields: { readonly [k: string]: Tmpl }): CommandDef['answerFault'] {
  if (cmd.answerFault !== undefined || cmd.name !== 'IOMMU_TEST_CMD') return cmd.answerFault;
  const op = fields['op'];
  return typeof op === 'number' ? testOpByValue(profile, op)?.answerFault : undefined;
}

/** Applies an ABI choice to a struct argument built by a command generator. */
export function applyAbi(profile: Profile, cmd: CommandDef, fields: { readonly [k: string]: Tmpl }, choice: AbiChoice): AbiApplied {
  const facts = factsOf(profile, cmd);
  const out: Record<string, Tmpl> = { ...fields };
  let tail: Uint8Array | undefined;
  let readOnly = false;
  const defects: Defect[] = [];
  if (!facts) return { arg: { kind: 'struct', fields: out }, defects };
  const apply = (c: AbiChoice): void => {
    switch (c.kind) {
      case 'none':
        return;
      case 'double':
        apply(c.a);
        apply(c.b);
        // A size cut before a defective field hides it from the kernel.
        if (c.b.kind === 'shortOk') {
          const cut = out[facts.lenField];
          for (let i = defects.length - 1; i >= 0; i--) {
            const f = defects[i]?.field;
            const node = f ? [...facts.reserved, ...facts.flags.map((x) => x.node)].find((n) => n.name === f) : undefined;
            if (node && typeof cut === 'number' && node.offset + node.size > cut) defects.splice(i, 1);
          }
        }
        return;
      case 'reserved': {
        if (!facts.uapi || facts.reserved.length === 0) return;
        const node = facts.reserved[c.k % facts.reserved.length] as LayoutNode;
        out[node.name] = reservedValue(node, c.value);
        defects.push({ what: `non-zero ${cmd.struct}.${node.name}`, errno: facts.valueErrno, field: node.name, abi: true });
        return;
      }
      case 'flags': {
        if (!facts.uapi || facts.flags.length === 0) return;
        const f = facts.flags[c.k % facts.flags.length] as { node: LayoutNode; mask: number };
        // The lowest unknown bit at or above the chosen one.
        let bit = c.bit;
        while (bit < 32 && (f.mask >>> 0) & (1 << bit)) bit++;
        if (bit >= 32) return;
        const cur = typeof out[f.node.name] === 'number' ? (out[f.node.name] as number) : 0;
        out[f.node.name] = (cur | (1 << bit)) >>> 0;
        defects.push({ what: `unknown bit ${bit} in ${cmd.struct}.${f.node.name}`, errno: facts.valueErrno, field: f.node.name, abi: true });
        return;
      }
      case 'memberFlags': {
        const op = fields['op'];
        const def = typeof op === 'number' ? testOpByValue(profile, op) : undefined;
        const mf = def && memberFlagsOf(profile, def.name);
        const member = mf && out[mf.member];
        if (!mf || typeof member !== 'object' || member === null || Array.isArray(member) || member instanceof Uint8Array) return;
        let bit = c.bit;
        while (bit < 32 && mf.mask & (1 << bit)) bit++;
        if (bit >= 32) return;
        const word = member as { readonly [k: string]: Tmpl };
        const cur = typeof word[mf.field] === 'number' ? (word[mf.field] as number) : 0;
        out[mf.member] = { ...word, [mf.field]: (cur | (1 << bit)) >>> 0 };
        defects.push({ what: `unknown bit ${bit} in ${mf.member}.${mf.field}`, errno: mf.errno, field: `${mf.member}.${mf.field}`, abi: true });
        return;
      }
      case 'tail': {
        tail = new Uint8Array(c.extra);
        if (c.nonzero) tail[(c.extra - 1) % c.extra] = 0x5a;
        out[facts.lenField] = facts.size + c.extra;
        if (c.nonzero && facts.tailChecked) defects.push({ what: `non-zero byte past sizeof(${cmd.struct})`, errno: 'E2BIG', dispatch: true, abi: true });
        return;
      }
      case 'short': {
        if (facts.min === 0) return;
        out[facts.lenField] = c.k % facts.min;
        defects.push({ what: `${facts.lenField} ${c.k % facts.min} below the minimum ${facts.min}`, errno: 'EINVAL', dispatch: true, abi: true });
        return;
      }
      case 'readOnly': {
        if (answerFaultOf(profile, cmd, fields) === undefined) return;
        readOnly = true;
        defects.push({ what: `a read-only ${cmd.struct} (its answer cannot be copied back)`, errno: 'EFAULT', abi: true });
        return;
      }
      case 'shortOk': {
        if (facts.min >= facts.size) return;
        // Between the minimum and sizeof: accepted, the missing part read as zero.
        // Only sizes on the boundaries of whole trailing fields keep the request well defined.
        out[facts.lenField] = facts.min;
        // What lies past an older caller's struct is the caller's own memory: a marker there shows
        // a kernel that reads it (copy_struct_from_user reads `size` bytes) or writes it
        // (iommufd_ucmd_respond copies min(size, sizeof) back; a VFIO command writes inside argsz).
        for (const n of facts.past) out[n.name] = marker(n);
        // A VFIO command's struct runs on in the caller's memory past sizeof too (a capability
        // chain cut by argsz must not reach there): 32 bytes of it come with the request.
        if (facts.lenField === 'argsz' && tail === undefined) tail = new Uint8Array(32);
        return;
      }
    }
  };
  apply(choice);
  // A size past sizeof that came with the fields (a follow asking again with an earlier step's
  // struct) comes with that struct's zero tail: without it the request would claim bytes it does
  // not provide, and the answer would be the adapter's memory layout's (EFAULT at a guard page).
  const claimed = out[facts.lenField];
  if (tail === undefined && typeof claimed === 'number' && claimed > facts.size && claimed - facts.size <= 4096) tail = new Uint8Array(claimed - facts.size);
  const arg: { kind: 'struct'; fields: typeof out; tail?: Uint8Array; readOnly?: true } = { kind: 'struct', fields: out };
  if (tail !== undefined) arg.tail = tail;
  if (readOnly) arg.readOnly = true;
  return { arg, defects };
}

// ---------------------------------------------------------------- request numbers

/** include/uapi/asm-generic/ioctl.h: nr 0..7, type 8..15, size 16..29, dir 30..31. */
const IOC_TYPE_SHIFT = 8;
const IOC_SIZE_SHIFT = 16;
const IOC_SIZE_MASK = 0x3fff;
const IOC_DIR_SHIFT = 30;

export type RequestBits = 'type' | 'dir' | 'size';

/**
 * A command's request number with other `bits` (its nr kept), as userspace
 * builds it with the wrong type or with _IOWR(type, nr, struct) where the uAPI
 * says _IO(type, nr); undefined when that is some command's number after all.
 */
export function otherRequest(profile: Profile, cmdName: string, bits: RequestBits): number | undefined {
  const cmd = commandByName(profile, cmdName);
  if (!cmd) return undefined;
  const n = cmd.request >>> 0;
  const size = (n >>> IOC_SIZE_SHIFT) & IOC_SIZE_MASK;
  const wanted = cmd.struct ? (commandStructSize(profile, cmd) ?? 8) : 8;
  const other = (bits === 'type' ? n ^ (1 << IOC_TYPE_SHIFT) : bits === 'dir' ? n ^ (3 << IOC_DIR_SHIFT) : (n & ~(IOC_SIZE_MASK << IOC_SIZE_SHIFT)) | ((size === wanted ? wanted + 8 : wanted) << IOC_SIZE_SHIFT)) >>> 0;
  return commandsFor(profile).some((c) => c.request >>> 0 === other) ? undefined : other;
}
