// Module customization hooks (node:module register) that compile this
// project's TypeScript with esbuild, as tsx does, minus tsx's `keepNames`.
//
// tsx compiles every file with keepNames, which wraps each function
// expression in a `__name(fn, "…")` call that redefines the function's `name`
// every time the expression is evaluated: once per call for the small
// closures the implementation and the suite create on their hot paths
// (measured: an IOAS_ALLOC or DESTROY through the in-process reference 4.0 µs
// with tsx, 2.8 µs without; recorded suite requests replayed 15–20% faster).
// A plain transform keeps every name anyway (nothing is minified or
// renamed), so nothing is lost.
//
// Resolution stays with tsx (registered before these hooks, which therefore
// run first); only the project's own .ts files outside node_modules are
// compiled here. Output is cached by content under node_modules/.cache, as
// tsx caches its own, so a process starts as fast as with tsx.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';
import { transformSync, version } from 'esbuild';

const ROOT = new URL('../../', import.meta.url).href;
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/iommufd-spec-ts/', import.meta.url));
const OPTIONS = { loader: 'ts', format: 'esm', target: `node${process.versions.node}`, sourcemap: 'inline' };
const SALT = `${version}\0${JSON.stringify(OPTIONS)}\0`;

function ours(url) {
  if (!url.startsWith(ROOT) || url.includes('/node_modules/')) return false;
  const path = url.split(/[?#]/)[0];
  return path.endsWith('.ts') || path.endsWith('.mts');
}

function compile(path) {
  const source = readFileSync(path, 'utf8');
  const key = createHash('sha1').update(SALT).update(path).update('\0').update(source).digest('hex');
  const cached = `${CACHE}${key}.mjs`;
  try {
    return readFileSync(cached, 'utf8');
  } catch {
    // not compiled yet
  }
  const { code } = transformSync(source, { ...OPTIONS, sourcefile: path });
  try {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, cached); // atomic: a concurrent process reads a whole file or none
  } catch {
    // a read-only tree compiles every time
  }
  return code;
}

export async function load(url, context, nextLoad) {
  if (!ours(url)) return nextLoad(url, context);
  return { format: 'module', source: compile(fileURLToPath(url)), shortCircuit: true };
}
