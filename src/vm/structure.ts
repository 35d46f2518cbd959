// Recovers structured control flow from a function's jumps: loops (one per back-edge
// target) and labelled blocks (one per forward target), properly nested, so the translator
// can emit plain JS loops that V8 optimises well. Returns null when the jumps do not nest
// (possible only in hand-made bytecode) or nest too deeply for a JS parser; the translator
// then falls back to a block switch.

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
 * Deepest nesting of regions emitted as JS blocks. The compiler's syntax-level limit keeps
 * scripts far below it; hand-made bytecode beyond it gets the flat switch, which V8's
 * recursive parser handles at any size.
 */
const MAX_REGION_DEPTH = 400;
/** Sweeps before giving up on making the blocks nest (compiled code needs one or two). */
const MAX_SWEEPS = 32;

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
  const regions: Region[] = [];
  for (const [header, end] of loopEnds) regions.push({ kind: 'loop', start: header, end, target: header });
  for (const [target, start] of blockStarts) regions.push({ kind: 'block', start, end: target - 1, target });

  // A block may start earlier (it only has to contain its jumps), so grow blocks outwards
  // until every pair of regions is nested or disjoint; anything else cannot be structured.
  // Each sweep is one pass in opening order over a stack of the regions still open, so the
  // whole costs O(n log n) per sweep rather than a comparison of every pair.
  for (let sweep = 0; ; sweep++) {
    if (sweep === MAX_SWEEPS) return null;
    sortInOpeningOrder(regions);
    const grown = sweepOnce(regions);
    if (grown === null) return null;
    if (!grown) break;
  }
  sortInOpeningOrder(regions);
  return nestingDepth(regions) > MAX_REGION_DEPTH ? null : regions;
}

/**
 * By start, outer (longer) ones first; a block before a loop of the same extent, so a
 * block's `break` can leave the loop.
 */
function sortInOpeningOrder(regions: Region[]): void {
  regions.sort((a, b) => a.start - b.start || b.end - a.end || (a.kind === b.kind ? 0 : a.kind === 'block' ? -1 : 1));
}

/**
 * One pass in opening order: a region that begins inside an open one and ends after it
 * crosses it; a block then grows to start where the crossed region starts, a loop cannot.
 * Returns whether any block grew (another sweep is needed), or null when a loop crosses.
 */
function sweepOnce(regions: readonly Region[]): boolean | null {
  const open: Region[] = [];
  let grew = false;
  for (const region of regions) {
    while (open.length > 0 && open[open.length - 1]!.end < region.start) open.pop();
    while (open.length > 0 && open[open.length - 1]!.end < region.end) {
      if (region.kind !== 'block') return null;
      region.start = open.pop()!.start;
      grew = true;
    }
    open.push(region);
  }
  return grew;
}

/** How deeply the (nested or disjoint) regions, in opening order, nest. */
function nestingDepth(regions: readonly Region[]): number {
  const open: Region[] = [];
  let deepest = 0;
  for (const region of regions) {
    while (open.length > 0 && open[open.length - 1]!.end < region.start) open.pop();
    open.push(region);
    deepest = Math.max(deepest, open.length);
  }
  return deepest;
}
