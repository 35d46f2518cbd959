// Where a runtime error happened, found after the fact: each translated instruction is one
// line of generated JS carrying a marker of its source position, each translation unit is
// named by a sourceURL, and the JS stack of the error names the unit and line.

import type { RuntimeError } from './errors';

/** A source position of an instruction: the chunk (script name) and line. */
export interface Position {
  readonly chunk: string;
  readonly line: number;
}

/** `/*@N*\/` at the start of a generated line: the instruction at position N. */
const MARKER = /^\/\*@(\d+)\*\//;
/** A stack frame in a translation unit: its number and line. */
const FRAME = /ktap-unit-(\d+)\.js:(\d+):\d+/g;

/** Line of the function body's first line in stacks of `new Function` code (V8 puts a header before it). */
const BODY_LINE_OFFSET = ((): number => {
  const stack = (new Function(`return new Error().stack;\n//# sourceURL=ktap-unit-probe.js`) as () => string)();
  const match = /ktap-unit-probe\.js:(\d+):\d+/.exec(stack);
  return match === null ? 2 : Number(match[1]) - 1;
})();

/** Units get numbers unique in the process, so that one runtime's stacks never name another's. */
let nextUnit = 0;

export class PositionTable {
  private readonly positions: Position[] = [];
  /** Per unit: the position index of each generated line (-1 for lines of no instruction). */
  private readonly units = new Map<number, Int32Array>();

  /** The marker that starts an instruction's line. */
  marker(chunk: string, line: number): string {
    this.positions.push({ chunk, line });
    return `/*@${this.positions.length - 1}*/`;
  }

  newUnit(): number {
    return nextUnit++;
  }

  sourceUrl(unit: number): string {
    return `//# sourceURL=ktap-unit-${unit}.js`;
  }

  /** Records which generated line of `source` (unit `unit`) holds which instruction. */
  mapLines(unit: number, source: string): void {
    const lines = source.split('\n');
    const table = new Int32Array(lines.length).fill(-1);
    lines.forEach((text, index) => {
      const match = MARKER.exec(text);
      if (match !== null) table[index] = Number(match[1]);
    });
    this.units.set(unit, table);
  }

  /**
   * The position of the innermost script instruction in `stack` (a JS error's stack), or
   * undefined when none of its frames is translated code (an error raised outside a run).
   */
  locate(stack: string | undefined): Position | undefined {
    if (stack === undefined) return undefined;
    for (const match of stack.matchAll(FRAME)) {
      const table = this.units.get(Number(match[1]));
      const index = table?.[Number(match[2]) - BODY_LINE_OFFSET - 1];
      if (index !== undefined && index >= 0) return this.positions[index];
    }
    return undefined;
  }
}

/** Gives `error` the position its own stack (or `cause`'s, for converted JS errors) names. */
export function place(error: RuntimeError, table: PositionTable, cause: unknown): void {
  if (error.position !== undefined) return;
  error.position = table.locate(error.stack) ?? table.locate((cause as Error | undefined)?.stack);
}
