// The n largest rows of a histogram without sorting all of them: a bounded heap, so that
// print_hist of a million entries costs O(entries · log n) and its charge can stay small.

/**
 * Indexes of the `limit` largest counts, largest first, equal counts in their order in
 * `counts` (the table's iteration order).
 */
export function largest(counts: ReadonlyArray<number | bigint>, limit: number): number[] {
  // `ranksBelow(a, b)`: row a would be shown after row b. Counts are canonical (numbers
  // while safe, bigints beyond), so equal counts have equal types and `===` compares them.
  const ranksBelow = (a: number, b: number): boolean => {
    const countA = counts[a]!;
    const countB = counts[b]!;
    return countA < countB || (countA === countB && a > b);
  };
  // A min-heap of row indexes: its root is the lowest-ranked row kept so far.
  const heap: number[] = [];
  for (let index = 0; index < counts.length && limit > 0; index++) {
    let at: number;
    if (heap.length < limit) {
      // Sift up from a new leaf.
      at = heap.length;
      heap.push(index);
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (!ranksBelow(index, heap[parent]!)) break;
        heap[at] = heap[parent]!;
        at = parent;
      }
      heap[at] = index;
      continue;
    }
    // A later row replaces the lowest kept one only with a strictly larger count.
    if (!ranksBelow(heap[0]!, index)) continue;
    at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const lower = right < heap.length && ranksBelow(heap[right]!, heap[left]!) ? right : left;
      if (!ranksBelow(heap[lower]!, index)) break;
      heap[at] = heap[lower]!;
      at = lower;
    }
    heap[at] = index;
  }
  return heap.sort((a, b) => (ranksBelow(a, b) ? 1 : -1));
}
