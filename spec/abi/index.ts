/**
 * The binary ABI: the codec (structs ↔ little-endian bytes), the dispatch and
 * size rules an implementation applies before a handler runs, and the builder
 * that turns a typed IoctlArg into argument bytes.
 */
export { CodecError, encodeStruct, decodeStruct, encodeArray, decodeArray, encodeWithLayout, decodeWithLayout, paddingMask } from './codec.ts';
export type { StructValue, FieldValue, DecodeOptions } from './codec.ts';
export {
  decodeIoctl,
  encodeResponse,
  applyWrites,
  vfioCopyExtension,
  copyStructFromUser,
  iommufdTableSize,
  argBytes,
  argInt,
  argNull,
  argFault,
} from './dispatch.ts';
export type { UserArg, IoctlDecode, StructDecode, DispatchOptions, DispatchStage, UserWrite } from './dispatch.ts';
export { buildIoctlArg, buildUntypedArg, resolveCommand, ioctlArgField, rawPointerResults, MAX_PATCH_DEPTH } from './arg.ts';
export type { BuiltArg, PlacedPointer, PlacePointer } from './arg.ts';
export { arbStruct, arbRecord, arbLayoutNode } from './arbitrary.ts';
