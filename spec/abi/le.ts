/**
 * Little-endian scalars in a byte array, read and written byte by byte.
 * Why not a DataView: a DataView needs `bytes.buffer`, and asking a small
 * typed array for its buffer makes V8 move it off the heap into an
 * ArrayBuffer of its own — the most expensive thing an ioctl's marshalling
 * did. Offsets are trusted (callers know their layouts).
 */

export function getU16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

export function getU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function getI32(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
}

export function getU64(b: Uint8Array, off: number): bigint {
  const lo = getU32(b, off);
  const hi = getU32(b, off + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
}

export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

/** The low 64 bits of v (two's complement for negatives), as the C assignment to a __u64 keeps them. */
export function setU64(b: Uint8Array, off: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  setU32(b, off, Number(u & 0xffff_ffffn));
  setU32(b, off + 4, Number(u >> 32n));
}
