import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpiryBuckets, SlotHeap } from './expiry.js';

describe('SlotHeap', () => {
  it('pops slots in last-seen order whatever the push order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }), (times) => {
        const heap = new SlotHeap();
        for (let slot = 0; slot < times.length; slot++) heap.push(times[slot]!, slot);
        const popped: number[] = [];
        while (heap.size > 0) {
          const before = heap.peekTime();
          const slot = heap.pop();
          expect(times[slot]).toBe(before);
          popped.push(times[slot]!);
        }
        expect(popped).toEqual([...times].sort((a, b) => a - b));
        expect(heap.pop()).toBe(-1);
        expect(heap.peekTime()).toBe(Number.POSITIVE_INFINITY);
      }),
    );
  });
});

describe('ExpiryBuckets', () => {
  it('hands buckets out earliest first, late (out-of-order) buckets included', () => {
    const buckets = new ExpiryBuckets(1000);
    buckets.add(buckets.bucketOf(5500), 1);
    buckets.add(buckets.bucketOf(2100), 2);
    buckets.add(buckets.bucketOf(5999), 3);
    buckets.add(buckets.bucketOf(-1), 4);
    expect(buckets.entries).toBe(4);
    expect(buckets.first()).toBe(-1);
    expect(buckets.takeFirst()).toEqual([4]);
    expect(buckets.startOf(buckets.first()!)).toBe(2000);
    expect(buckets.takeFirst()).toEqual([2]);
    buckets.putBack(3, [9]);
    expect(buckets.takeFirst()).toEqual([9]);
    expect(buckets.takeFirst()).toEqual([1, 3]);
    expect(buckets.first()).toBeUndefined();
    expect(buckets.entries).toBe(0);
  });
});
