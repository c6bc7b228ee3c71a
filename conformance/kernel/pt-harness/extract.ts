/**
 * Copies named C definitions verbatim out of a kernel source file: functions
 * (`static int foo(...) { ... }`), struct definitions (`struct foo { ... };`)
 * and macros (`#define FOO ...` with continuation lines). The harness uses it
 * for the few kernel pieces that live in files too entangled to compile whole
 * (include/linux/iommu.h helpers, the iommu core's map/unmap loops in
 * drivers/iommu/iommu.c, and 6.12's VT-d page-table code in intel/iommu.c):
 * the text is the kernel's, byte for byte, only cut out of its file.
 *
 * The scanner understands comments, string and character literals and brace
 * nesting; it does not evaluate the preprocessor, so it takes the first
 * definition in the file (in iommu.h the CONFIG_IOMMU_API branch comes before
 * the stubs).
 */

export type Kind = 'function' | 'struct' | 'enum' | 'enumWith' | 'macro';

export interface Piece {
  readonly kind: Kind;
  readonly name: string;
}

/** Offsets of the code (not comment / literal) characters of `src`: mask[i] = 1 when src[i] is code. */
function codeMask(src: string): Uint8Array {
  const m = new Uint8Array(src.length);
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '*') {
      const e = src.indexOf('*/', i + 2);
      i = e < 0 ? src.length : e + 2;
      continue;
    }
    if (c === '/' && n === '/') {
      const e = src.indexOf('\n', i);
      i = e < 0 ? src.length : e;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      for (let k = i; k <= j && k < src.length; k++) m[k] = 2; // literal: code, but never a brace
      i = j + 1;
      continue;
    }
    m[i] = 1;
    i++;
  }
  return m;
}

/** Index just after the `}` matching the `{` at `open`. */
function matchBrace(src: string, mask: Uint8Array, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (mask[i] !== 1) continue;
    if (src[i] === '{') depth++;
    else if (src[i] === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error('unbalanced braces');
}

/** Index of the first code character at or after `i` that is not whitespace, or -1. */
function nextCode(src: string, mask: Uint8Array, i: number): number {
  for (; i < src.length; i++) if (mask[i] === 1 && !/\s/.test(src[i] as string)) return i;
  return -1;
}

/** Start of the line holding `i`, extended upward over the lines of the same declaration. */
function declStart(src: string, i: number): number {
  let s = src.lastIndexOf('\n', i - 1) + 1;
  for (;;) {
    if (s === 0) return s;
    const prevEnd = s - 1;
    const prevStart = src.lastIndexOf('\n', prevEnd - 1) + 1;
    const prev = src.slice(prevStart, prevEnd).trim();
    if (prev === '' || prev.startsWith('#') || /[;{}]$/.test(prev) || prev.endsWith('*/') || prev.startsWith('//')) return s;
    s = prevStart;
  }
}

function findFunction(src: string, mask: Uint8Array, name: string): string | undefined {
  const re = new RegExp(`\\b${name}\\s*\\(`, 'g');
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (mask[m.index] !== 1) continue;
    // At file scope? (brace depth 0 at this point)
    let depth = 0;
    for (let k = 0; k < m.index; k++) {
      if (mask[k] !== 1) continue;
      if (src[k] === '{') depth++;
      else if (src[k] === '}') depth--;
    }
    if (depth !== 0) continue;
    // Match the parameter list.
    let p = m.index + m[0].length - 1;
    let pd = 0;
    for (; p < src.length; p++) {
      if (mask[p] !== 1) continue;
      if (src[p] === '(') pd++;
      else if (src[p] === ')') {
        pd--;
        if (pd === 0) break;
      }
    }
    const b = nextCode(src, mask, p + 1);
    if (b < 0 || src[b] !== '{') continue; // a prototype or a call
    const start = declStart(src, m.index);
    const line = src.slice(start, m.index);
    if (line.includes('#define')) continue;
    return src.slice(start, matchBrace(src, mask, b)) + '\n';
  }
  return undefined;
}

function findStruct(src: string, mask: Uint8Array, name: string, tag = 'struct'): string | undefined {
  const re = new RegExp(`^${tag}\\s+${name}\\s*\\{`, 'gm');
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (mask[m.index] !== 1) continue;
    const open = m.index + m[0].length - 1;
    const close = matchBrace(src, mask, open);
    const semi = src.indexOf(';', close);
    return src.slice(m.index, semi + 1) + '\n';
  }
  return undefined;
}

/** The anonymous (or named) enum block that defines the enumerator `name`. */
function findEnumWith(src: string, mask: Uint8Array, name: string): string | undefined {
  const re = new RegExp(`\\b${name}\\s*[=,}]`, 'g');
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (mask[m.index] !== 1) continue;
    const head = /^enum(\s+\w+)?\s*\{/gm;
    let start = -1;
    for (let h = head.exec(src); h !== null && h.index < m.index; h = head.exec(src)) start = h.index;
    if (start < 0) continue;
    const close = matchBrace(src, mask, src.indexOf('{', start));
    if (close < m.index) continue;
    return src.slice(start, src.indexOf(';', close) + 1) + '\n';
  }
  return undefined;
}

function findMacro(src: string, mask: Uint8Array, name: string): string | undefined {
  const re = new RegExp(`^[ \\t]*#[ \\t]*define[ \\t]+${name}\\b`, 'gm');
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (mask[m.index] !== 1) continue;
    let e = m.index;
    for (;;) {
      const nl = src.indexOf('\n', e);
      if (nl < 0) {
        e = src.length;
        break;
      }
      const lineEnd = src[nl - 1] === '\r' ? nl - 1 : nl;
      if (src[lineEnd - 1] === '\\') {
        e = nl + 1;
        continue;
      }
      e = nl;
      break;
    }
    return src.slice(m.index, e) + '\n';
  }
  return undefined;
}

/**
 * The definitions of `pieces` in `src`, in the order given. Throws naming the
 * first piece it cannot find (a kernel version that renamed something fails
 * loudly, never silently).
 */
export function extract(src: string, pieces: readonly Piece[], file: string): string {
  const mask = codeMask(src);
  const out: string[] = [];
  for (const p of pieces) {
    const text =
      p.kind === 'function'
        ? findFunction(src, mask, p.name)
        : p.kind === 'struct' || p.kind === 'enum'
          ? findStruct(src, mask, p.name, p.kind)
          : p.kind === 'enumWith'
            ? findEnumWith(src, mask, p.name)
            : findMacro(src, mask, p.name);
    if (text === undefined) throw new Error(`${file}: ${p.kind} ${p.name} not found`);
    out.push(`/* ${file}: ${p.kind} ${p.name} (verbatim) */\n${text}`);
  }
  return out.join('\n');
}

export const fn = (name: string): Piece => ({ kind: 'function', name });
export const struct = (name: string): Piece => ({ kind: 'struct', name });
export const macro = (name: string): Piece => ({ kind: 'macro', name });
export const enumOf = (name: string): Piece => ({ kind: 'enum', name });
export const enumWith = (name: string): Piece => ({ kind: 'enumWith', name });
