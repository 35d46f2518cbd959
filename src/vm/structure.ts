// Recovers structured control flow from a function's jumps: loops (one per back-edge
// target) and labelled blocks (one per forward target), properly nested, so the translator
// can emit plain JS loops that V8 optimises well. Returns null when the jumps do not nest
// (possible only in hand-made bytecode); the translator then falls back to a block switch.

export interface Region {
  readonly kind: 'loop' | 'block';
  /** First instruction inside the region. */
  start: number;
  /** Last instruction inside the region (a block's jump target is end + 1). */
  readonly end: number;
  /** Loop header (= start) or block target (= end + 1): what jumps name. */
  readonly target: number;
}

/**
 * `jumps` lists [pc, target] for every jump instruction. Regions come back in opening
 * order: by start, outer ones first.
 */
export function structure(jumps: ReadonlyArray<readonly [number, number]>): Region[] | null {
  const loopEnds = new Map<number, number>();
  const blockStarts = new Map<number, number>();
  for (const [pc, target] of jumps) {
    if (target <= pc) loopEnds.set(target, Math.max(loopEnds.get(target) ?? pc, pc));
    else blockStarts.set(target, Math.min(blockStarts.get(target) ?? pc, pc));
  }
  const regions: Region[] = [
    ...[...loopEnds].map(([header, end]): Region => ({ kind: 'loop', start: header, end, target: header })),
    ...[...blockStarts].map(([target, start]): Region => ({ kind: 'block', start, end: target - 1, target })),
  ];

  // A block may start earlier (it only has to contain its jumps), so grow blocks outwards
  // until every pair of regions is nested or disjoint; anything else cannot be structured.
  let changed = true;
  for (let round = 0; changed; round++) {
    if (round > regions.length + 1) return null;
    changed = false;
    for (const outer of regions) {
      for (const inner of regions) {
        if (outer === inner || !overlapsPartially(outer, inner)) continue;
        // `inner` starts first and ends inside `outer`: only a block can grow to contain it.
        if (outer.kind !== 'block') return null;
        outer.start = inner.start;
        changed = true;
      }
    }
  }

  // Blocks outside loops of the same extent, so a block's `break` can leave the loop.
  regions.sort((a, b) => a.start - b.start || b.end - a.end || (a.kind === b.kind ? 0 : a.kind === 'block' ? -1 : 1));
  return regions;
}

/** `b` begins before `a` and ends inside it (neither nested nor disjoint). */
function overlapsPartially(a: Region, b: Region): boolean {
  return b.start < a.start && b.end >= a.start && b.end < a.end;
}
