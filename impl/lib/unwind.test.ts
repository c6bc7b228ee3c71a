import { describe, expect, it } from 'vitest';
import { Unwind } from './unwind.ts';
import { EINVAL, ENOENT, ENOMEM } from './errno.ts';

describe('Unwind (the goto ladder)', () => {
  const ladder = () => {
    const log: string[] = [];
    const u = new Unwind();
    u.onError('err_a', () => log.push('a'));
    u.always('out_b', () => log.push('b'));
    u.onError('err_c', () => log.push('c'));
    return { u, log };
  };

  it('on failure releases everything, latest first, and returns the errno', () => {
    const { u, log } = ladder();
    expect(u.pending).toEqual(['err_c', 'out_b', 'err_a']);
    expect(u.exit(-ENOMEM)).toBe(-ENOMEM);
    expect(log).toEqual(['c', 'b', 'a']);
  });

  it('on success runs only the out_ entries', () => {
    const { u, log } = ladder();
    expect(u.exit(0)).toBe(0);
    expect(log).toEqual(['b']);
  });

  it('reads failure from a Result-like value', () => {
    const { u, log } = ladder();
    expect(u.exit({ errno: -ENOENT })).toEqual({ errno: -ENOENT });
    expect(log).toEqual(['c', 'b', 'a']);
  });

  it('goto runs the whole ladder even for a success (ret = 0; goto out)', () => {
    const { u, log } = ladder();
    expect(u.goto(0)).toBe(0);
    expect(log).toEqual(['c', 'b', 'a']);
  });

  it('commit drops the error entries, keeps the out_ ones', () => {
    const { u, log } = ladder();
    u.commit();
    expect(u.exit(-EINVAL)).toBe(-EINVAL);
    expect(log).toEqual(['b']);
  });

  it('exits once', () => {
    const { u } = ladder();
    u.exit(0);
    expect(() => u.exit(0)).toThrow(/already exited/);
  });
});
