// A seeded random number generator for the fuzz tests: the same sequence on every platform,
// so a failing seed replays exactly.

/** mulberry32: small and fast; the returned function gives an integer in [0, bound). */
export function makeRandom(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) % bound;
  };
}

export type Random = ReturnType<typeof makeRandom>;
