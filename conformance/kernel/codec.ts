/**
 * Lowering of contract `struct` ioctl arguments for the kernel lane.
 *
 * The C adapter in the guest knows no struct layouts, so the host encodes a
 * `struct` argument with the project's one encoder (spec/abi buildIoctlArg)
 * and sends it as a `raw` argument with pointer patches (ADAPTER.md §3.3):
 * every PointerArg field ({data} / {room}) becomes a patch at the pointer
 * field's byte offset, which the adapter fills with the address of the scratch
 * memory it places the target in. Results are decoded with spec/abi
 * decodeStruct. Only the lane's glue is here: the patch list, and errors named
 * by their request field.
 */
import type { IoctlArg, PointerArg, Profile, StructValue } from '../../spec/contract/types.ts';
import { buildIoctlArg, ioctlArgField, resolveCommand } from '../../spec/abi/arg.ts';
import { CodecError, decodeStruct } from '../../spec/abi/codec.ts';

/** A pointer field to be placed by the adapter. */
export interface PointerPatch {
  /** Byte offset of the u64 pointer inside the argument bytes. */
  readonly offset: number;
  /** Dotted field path, the key of IoctlResult.buffers. */
  readonly path: string;
  readonly target: PointerArg;
}

export interface LoweredArg {
  readonly struct: string;
  readonly bytes: Uint8Array;
  readonly patches: readonly PointerPatch[];
}

/** The bad field of a request, named by its dotted path (e.g. `arg.fields.flags`). */
export class LowerError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'LowerError';
  }
}

/** Encodes a `struct` ioctl argument for the command `cmd` in `profile`. */
export function lowerStructArg(profile: Profile, cmd: string | number, arg: Extract<IoctlArg, { kind: 'struct' }>): LoweredArg {
  const command = resolveCommand(profile, cmd);
  if (!command) throw new LowerError('cmd', `'${String(cmd)}' is not a command of profile ${profile}`);
  if (!command.struct) throw new LowerError('arg.kind', `${command.name} takes no struct argument`);
  let built;
  try {
    // Address 0 is a placeholder: the adapter writes the real one at each patch's offset.
    built = buildIoctlArg(profile, command, arg, () => 0n);
  } catch (e) {
    if (e instanceof CodecError) throw new LowerError(ioctlArgField(e), e.message);
    throw e;
  }
  if (built.kind !== 'bytes') throw new LowerError('arg.kind', `${command.name} takes no struct argument`);
  const patches = built.pointers.map((p) => ({ offset: p.offset, path: p.path, target: p.arg }));
  return { struct: command.struct, bytes: built.bytes, patches };
}

/** Decodes the bytes an ioctl left in its argument with the struct's layout. */
export function raiseStruct(profile: Profile, struct: string, bytes: Uint8Array): StructValue {
  try {
    return decodeStruct(profile, struct, bytes);
  } catch (e) {
    if (e instanceof CodecError) throw new LowerError('cmd', e.message);
    throw e;
  }
}
