/**
 * Checking a whole session on the wire: every client line against
 * clientMessage, every server line against serverMessage and the result schema
 * of the request it answers (hello, bye, batch items included). Used by the
 * tests that drive out-of-process adapters; usable on any recorded session.
 */
import { checkSchema, prefixField, type SchemaViolation } from './validate.ts';
import type { Json, JsonObject } from './wire.ts';

export interface TranscriptLine {
  readonly direction: 'send' | 'recv';
  readonly line: string;
}

export interface TranscriptViolation extends SchemaViolation {
  readonly index: number;
  readonly line: string;
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every schema violation in the session ([] = every message valid). */
export function checkTranscript(lines: readonly TranscriptLine[]): TranscriptViolation[] {
  const out: TranscriptViolation[] = [];
  const asked = new Map<number, JsonObject>();
  lines.forEach(({ direction, line }, index) => {
    const report = (v: SchemaViolation): void => {
      out.push({ ...v, index, line });
    };
    let msg: Json;
    try {
      msg = JSON.parse(line) as Json;
    } catch {
      report({ field: '', message: 'not valid JSON' });
      return;
    }
    if (direction === 'send') {
      const v = checkSchema('clientMessage', msg);
      if (v) report(v);
      else if (isObject(msg) && typeof msg['id'] === 'number') asked.set(msg['id'], msg);
      return;
    }
    const v = checkSchema('serverMessage', msg);
    if (v) return report(v);
    if (!isObject(msg) || msg['ok'] !== true || typeof msg['id'] !== 'number') return;
    const request = asked.get(msg['id']);
    if (!request) return report({ field: 'id', message: `id ${msg['id']} answers no request` });
    const op = request['op'];
    const result = msg['result'];
    const rv = op === 'hello' ? checkSchema('helloResult', result) : checkSchema(`result_${String(op)}` as `result_${'bye'}`, result);
    if (rv) return report({ field: prefixField('result', rv.field), message: rv.message });
    if (op !== 'batch' || !isObject(result)) return;
    const items = result['responses'] as readonly JsonObject[];
    const requests = request['requests'] as readonly JsonObject[];
    if (items.length !== requests.length) report({ field: 'result.responses', message: `${items.length} responses for ${requests.length} requests` });
    items.forEach((item, i) => {
      const iv = checkSchema('batchItemResponse', item);
      if (iv) return report({ field: prefixField(`result.responses.${i}`, iv.field), message: iv.message });
      const inner = requests[i];
      if (item['ok'] !== true || inner === undefined) return;
      const rv2 = checkSchema(`result_${String(inner['op'])}` as `result_${'bye'}`, item['result']);
      if (rv2) report({ field: prefixField(`result.responses.${i}.result`, rv2.field), message: rv2.message });
    });
  });
  return out;
}
