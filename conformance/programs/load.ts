/**
 * Loading and validating program files: the JSON Schema (ajv, draft 2020-12)
 * first, then what a schema cannot say — references only to names bound by an
 * earlier step, constants known to every profile the program applies to,
 * errno names that exist.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Profile } from '../../spec/contract/types.ts';
import { featuresFor } from '../../spec/contract/features.ts';
import schema from './schema/program.schema.json' with { type: 'json' };
import { isErrnoName } from './errno.ts';
import type { Json, JsonObject, LoadedProgram, Program, Step, StepExpect } from './types.ts';
import { BYTE_KEYS, collectRefs, constExpr, isByteSpec, isJsonObject, isRefObject, ResolveError } from './values.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CORPUS_DIR = join(HERE, 'corpus');
export const REPO_ROOT = resolve(HERE, '..', '..');

/** Bad input: names the file, and where known the step (1-based) and field. */
export class ProgramError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly step?: number,
    readonly field?: string,
  ) {
    super(`${file}${step !== undefined ? `: step ${step}` : ''}${field ? `: ${field}` : ''}: ${detail}`);
  }
}

/** The compiled program schema, made on first use: compiling it costs every process that imports this module (the CLI, stdio servers) a noticeable start-up delay. */
let compiled: ValidateFunction | undefined;
function programValidator(): ValidateFunction {
  compiled ??= new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  return compiled;
}

/** Keys of a step that are not request fields. */
export const STEP_META_KEYS = new Set(['op', 'bind', 'expect', 'note', 'fields', 'tail', 'truncate', 'readOnly']);

function schemaError(file: string, e: ErrorObject): ProgramError {
  const m = /^\/steps\/(\d+)(\/.*)?$/.exec(e.instancePath);
  if (m) {
    const field = (m[2] ?? '').slice(1).replace(/\//g, '.');
    return new ProgramError(file, e.message ?? 'invalid', Number(m[1]) + 1, field || undefined);
  }
  return new ProgramError(file, e.message ?? 'invalid', undefined, e.instancePath.slice(1).replace(/\//g, '.') || undefined);
}

/** Validates a parsed program; throws ProgramError naming file, step and field. */
export function validateProgram(data: unknown, file: string): Program {
  const validateSchema = programValidator();
  if (!validateSchema(data)) {
    const errors = validateSchema.errors ?? [];
    // The deepest error is the most useful one to show.
    const best = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
    throw best ? schemaError(file, best) : new ProgramError(file, 'does not match the program schema');
  }
  const program = data as unknown as Program;
  checkSemantics(program, file);
  return program;
}

function checkSemantics(program: Program, file: string): void {
  for (const name of program.requires?.features ?? []) {
    for (const profile of program.profiles) {
      if (!featuresFor(profile).some((f) => f.name === name)) {
        throw new ProgramError(file, `requires.features: ${name} is not a feature of profile ${profile} (spec/contract/features.ts)`);
      }
    }
  }
  const bound = new Set<string>();
  program.steps.forEach((step, i) => {
    const n = i + 1;
    checkByteFields(step, file, n);
    for (const [key, value] of Object.entries(step)) {
      if (key === 'bind' || key === 'note' || value === undefined) continue;
      for (const name of collectRefs(value as Json)) {
        if (!bound.has(name)) throw new ProgramError(file, `$${name} is not bound by an earlier step`, n, key);
      }
    }
    checkConstants(step, program.profiles, file, n);
    if (step.expect) checkExpect(step.expect, file, n, 'expect');
    for (const name of Object.keys(step.bind ?? {})) bound.add(name);
  });
}

/** Step fields that carry bytes, by op (FORMAT.md "bytes"). */
const BYTE_FIELDS: Readonly<Record<string, readonly string[]>> = { write: ['data'], mem_write: ['data'], dma: ['data'], ioctl: ['tail'] };

/**
 * A bytes field is one byte spec (or a reference to bound bytes): anything
 * else (a wire-format `{"b64": …}`, a misspelt key, two encodings at once)
 * would otherwise reach the adapter as something that is not bytes.
 */
function checkByteFields(step: Step, file: string, n: number): void {
  for (const key of BYTE_FIELDS[step.op] ?? []) {
    const v = (step as unknown as JsonObject)[key];
    if (v === undefined || (typeof v === 'string' && v.startsWith('$')) || isRefObject(v)) continue;
    const o = isJsonObject(v) ? v : undefined;
    const keys = o ? Object.keys(o) : [];
    const isSpelling = (k: string): boolean => (BYTE_KEYS as readonly string[]).includes(k);
    const fill = keys.includes('fill');
    // Exactly one spelling, nothing beside it but fill's length, which fill needs.
    const oneSpelling = keys.filter(isSpelling).length === 1 && keys.every((k) => isSpelling(k) || (fill && k === 'length'));
    if (!oneSpelling || (fill && typeof o?.['length'] !== 'number')) {
      const found = o ? `{${keys.join(', ')}}` : JSON.stringify(v);
      throw new ProgramError(file, `must be bytes: one of {"hex": …}, {"base64": …}, {"fill": n, "length": n}, {"u32s": […]}, {"u64s": […]} (got ${found})`, n, key);
    }
  }
}

/** Constant expressions (struct fields, int args) must exist in every profile the program applies to. */
function checkConstants(step: Step, profiles: readonly Profile[], file: string, n: number): void {
  const visit = (v: unknown, field: string): void => {
    if (v === undefined || v === null) return;
    if (typeof v === 'string') {
      if (v.startsWith('$') || /^-?(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return;
      for (const p of profiles) {
        try {
          constExpr(v, p, field);
        } catch (err) {
          if (err instanceof ResolveError) throw new ProgramError(file, err.message.replace(`${field}: `, ''), n, field);
          throw err;
        }
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => visit(x, `${field}[${i}]`));
    } else if (isJsonObject(v) && !isRefObject(v) && !isByteSpec(v)) {
      for (const [k, x] of Object.entries(v)) visit(x, `${field}.${k}`);
    }
  };
  if (step.op !== 'ioctl') return;
  visit(step['fields'], 'fields');
  const arg = step['arg'] as JsonObject | undefined;
  if (arg) {
    visit(arg['fields'], 'arg.fields');
    visit(arg['value'], 'arg.value');
  }
}

function checkExpect(e: StepExpect, file: string, n: number, field: string): void {
  for (const name of e.errno ?? []) {
    if (!isErrnoName(name)) throw new ProgramError(file, `unknown errno ${name}`, n, `${field}.errno`);
  }
  if (e.ok === true && e.errno) throw new ProgramError(file, 'ok: true and errno cannot both hold', n, field);
  if (e.sameAs !== undefined && e.sameAs >= n) throw new ProgramError(file, `sameAs ${e.sameAs} is not an earlier step`, n, `${field}.sameAs`);
  e.oneOf?.forEach((alt, i) => checkExpect(alt, file, n, `${field}.oneOf[${i}]`));
}

export function loadProgram(file: string): LoadedProgram {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProgramError(file, `cannot read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ProgramError(file, `not JSON: ${(err as Error).message}`);
  }
  return { program: validateProgram(data, file), file };
}

/** Program files under a directory (recursively), sorted. */
export function programFiles(dir: string = CORPUS_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.json')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** Files and directories from the command line → loaded programs. */
export function loadPrograms(paths: readonly string[]): LoadedProgram[] {
  const files = paths.flatMap((p) => (statSync(p, { throwIfNoEntry: false })?.isDirectory() ? programFiles(p) : [p]));
  return files.map((f) => loadProgram(f));
}

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
