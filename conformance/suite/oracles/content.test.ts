import { describe, expect } from 'vitest';
import { check } from '../../../spec/clauses/check.ts';
import { ContentShadow } from './content.ts';

const PAGE = 4096;

describe('the content shadow (what each buffer holds, as far as the oracle can follow)', () => {
  check('suite.content.follows-writes', () => {
    const c = new ContentShadow();
    c.alloc(1, 4 * PAGE);
    expect(c.read(1, 0, 8)).toStrictEqual(new Uint8Array(8)); // anonymous memory is zero-filled
    c.write(1, PAGE - 2, Uint8Array.of(1, 2, 3, 4)); // across a page boundary
    expect(c.read(1, PAGE - 3, 6)).toStrictEqual(Uint8Array.of(0, 1, 2, 3, 4, 0));
    expect(c.read(1, 4 * PAGE - 1, 2)).toBeUndefined(); // past the end
    expect(c.read(2, 0, 1)).toBeUndefined(); // no such buffer
  });

  check('suite.content.unknown-until-read-whole', () => {
    const c = new ContentShadow();
    c.alloc(1, 2 * PAGE);
    c.forget(1, 10, 1);
    expect(c.read(1, 0, 1)).toBeUndefined(); // the whole page is unknown
    expect(c.read(1, PAGE, 1)).toStrictEqual(new Uint8Array(1));
    c.write(1, 0, Uint8Array.of(7)); // a partial write does not make it known
    expect(c.read(1, 0, 1)).toBeUndefined();
    c.learn(1, 0, new Uint8Array(PAGE).fill(9)); // a read of the whole page does
    expect(c.read(1, 0, 2)).toStrictEqual(Uint8Array.of(9, 9));
    c.forget(1, PAGE, 1);
    expect(c.knownRanges(1, 2 * PAGE)).toStrictEqual([{ offset: 0, length: PAGE }]);
    c.forgetAll();
    expect(c.knownRanges(1, 2 * PAGE)).toStrictEqual([]);
  });
});
