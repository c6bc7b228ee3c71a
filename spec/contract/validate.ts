/**
 * Schema validation of wire messages (conformance/adapter/schema/), with ajv's
 * draft 2020-12 build. Every failure is reduced to one ProtocolError-style
 * report naming the offending field as a dotted path ("arg.fields.iova").
 */
import { readFileSync } from 'node:fs';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Op } from './types.ts';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;

export const SCHEMA_PATH = new URL('./schema/adapter-v1.schema.json', import.meta.url);
export const SCHEMA_ID = 'https://iommufd-spec.invalid/spec/contract/schema/adapter-v1.schema.json';

/** One validation failure: the dotted path of the bad field ('' = the message itself). */
export interface SchemaViolation {
  readonly field: string;
  readonly message: string;
}

/** The schema names that can be checked; result_<op> for each op. */
export type SchemaDef =
  | 'clientMessage'
  | 'serverMessage'
  | 'batchItem'
  | 'batchItemResponse'
  | 'helloResult'
  | `result_${Op | 'bye'}`;

function loadSchema(): object {
  // Read at run time so the JSON file stays the single source implementers read.
  return JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object;
}

let ajvInstance: InstanceType<typeof Ajv2020> | undefined;
const validators = new Map<SchemaDef, ValidateFunction>();

function validator(def: SchemaDef): ValidateFunction {
  let fn = validators.get(def);
  if (fn) return fn;
  if (!ajvInstance) {
    ajvInstance = new Ajv2020({ discriminator: true, allErrors: true, strict: true, strictRequired: false });
    ajvInstance.addSchema(loadSchema());
  }
  fn = ajvInstance.getSchema(`${SCHEMA_ID}#/$defs/${def}`);
  if (!fn) throw new Error(`adapter schema has no $defs/${def}`);
  validators.set(def, fn);
  return fn;
}

/** instancePath "/requests/2/arg" → "requests.2.arg"; plus the property a
 * required/additional/unevaluated error is about. */
function errorField(e: ErrorObject): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as Record<string, unknown>;
  const extra = params['missingProperty'] ?? params['additionalProperty'] ?? params['unevaluatedProperty'];
  if (typeof extra === 'string') parts.push(extra);
  if (e.keyword === 'discriminator' && typeof params['tag'] === 'string') parts.push(params['tag']);
  return parts.join('.');
}

function errorMessage(e: ErrorObject, field: string): string {
  const params = e.params as Record<string, unknown>;
  const where = field === '' ? 'message' : `field '${field}'`;
  switch (e.keyword) {
    case 'required':
      return `${where} is required`;
    case 'additionalProperties':
    case 'unevaluatedProperties':
    case 'false schema':
      return `${where} is not allowed here`;
    case 'discriminator':
      return params['error'] === 'mapping' ? `${where}: unknown value ${JSON.stringify(params['tagValue'])}` : `${where} ${e.message ?? 'is invalid'}`;
    default:
      return `${where} ${e.message ?? 'is invalid'}`;
  }
}

/** Reduce ajv's errors to one violation at the deepest failing path; where
 * several alternatives (anyOf/oneOf) failed there, list what each wanted. */
function reduceErrors(errors: readonly ErrorObject[]): SchemaViolation {
  let deepest: ErrorObject[] = [];
  let bestDepth = -1;
  for (const e of errors) {
    const depth = errorField(e).split('.').filter((s) => s !== '').length;
    if (depth > bestDepth) {
      deepest = [e];
      bestDepth = depth;
    } else if (depth === bestDepth) {
      deepest.push(e);
    }
  }
  const first = deepest[0];
  if (!first) return { field: '', message: 'message does not match the schema' };
  const field = errorField(first);
  const alternatives = deepest.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
  if (alternatives.length <= 1) return { field, message: errorMessage(alternatives[0] ?? first, field) };
  const wants = [...new Set(alternatives.map((e) => e.message ?? e.keyword))];
  const where = field === '' ? 'message' : `field '${field}'`;
  return { field, message: `${where} matches none of its forms (${wants.join('; ')})` };
}

/** Validate `value` against $defs/<def>; undefined when valid. */
export function checkSchema(def: SchemaDef, value: unknown): SchemaViolation | undefined {
  const fn = validator(def);
  if (fn(value)) return undefined;
  return reduceErrors(fn.errors ?? []);
}

/** Prefix a violation's field with a path (e.g. "requests.3"). */
export function prefixField(prefix: string, field: string): string {
  if (prefix === '') return field;
  return field === '' ? prefix : `${prefix}.${field}`;
}

/** The whole schema document (for tests and tools). */
export function adapterSchema(): object {
  return loadSchema();
}
