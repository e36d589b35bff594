import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Float64Arena, SlotIndex } from './slab.js';

describe('SlotIndex', () => {
  it('finds exactly what was inserted and not deleted, under random operations with colliding hashes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 400 }),
        (ops) => {
          const hashes = new Int32Array(400);
          const index = new SlotIndex((s) => hashes[s]!, 4);
          const live = new Map<number, number>(); // key -> slot
          let nextSlot = 0;
          for (const [insert, key] of ops) {
            const hash = key % 7; // heavy collisions
            if (insert && !live.has(key)) {
              const slot = nextSlot++;
              hashes[slot] = hash;
              index.insert(hash, slot);
              live.set(key, slot);
            } else if (!insert && live.has(key)) {
              index.delete(hash, live.get(key)!);
              live.delete(key);
            }
          }
          expect(index.size).toBe(live.size);
          for (const [key, slot] of live) {
            const found: number[] = [];
            for (let i = index.start(key % 7); ; i = index.step(i)) {
              const s = index.at(i);
              if (s < 0) break;
              found.push(s);
            }
            expect(found).toContain(slot);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('Float64Arena', () => {
  it('reuses released blocks and keeps data when it grows', () => {
    const arena = new Float64Arena(3, 1);
    const a = arena.alloc();
    arena.data[a * 3 + 2] = 7;
    const b = arena.alloc();
    const c = arena.alloc();
    expect(arena.data[a * 3 + 2]).toBe(7);
    arena.release(b);
    expect(arena.alloc()).toBe(b);
    expect(arena.liveBlocks).toBe(3);
    expect(c).toBe(2);
  });
});
