// The syntax of one printf `%` directive, shared by ktap's printf (vm/lib/format.ts) and the
// kernel's vsprintf that argstr renders print fmts with (probes/argstr/vsprintf.ts):
//
//   % [flags -+ #0]* [width: digits | *] [. precision: digits | *] [qualifier] conversion
//
// Where the two grammars differ, the caller decides: ktap allows two digits of width and
// precision (Lua's rule) and at most five flag characters, and the qualifiers hh h ll l z j t;
// the kernel reads any number of digits, its own qualifiers (hh h ll l L z Z t), and letters
// after `%p` as the pointer extension. `%%` is a conversion `%` in this scan; ktap only accepts
// it right after the `%`.

/** One directive as written: nothing is checked or converted to values here. */
export interface DirectiveSyntax {
  left: boolean;
  plus: boolean;
  space: boolean;
  /** `#` */
  alternate: boolean;
  zero: boolean;
  /** How many flag characters were written (repeats included). */
  flagCount: number;
  /** The width's digits ('' when none), or '*' for a width taken from an argument. */
  width: string;
  /** The precision's digits ('' after a bare `.`), '*', or null when there is no `.`. */
  precision: string | null;
  /** The length qualifier ('' when none). */
  qualifier: string;
  /** The conversion character ('' when the format ends first). */
  conversion: string;
  /** Index just past the conversion character. */
  end: number;
}

function digitsAt(format: string, index: number): string {
  let end = index;
  while (end < format.length && format.charCodeAt(end) >= 48 && format.charCodeAt(end) <= 57) end++;
  return format.slice(index, end);
}

/**
 * Scans the directive whose `%` is at `percent - 1` (so `percent` is the first character after
 * it). `qualifiers` lists the accepted length qualifiers, longer ones first.
 */
export function scanDirective(format: string, percent: number, qualifiers: readonly string[]): DirectiveSyntax {
  const directive: DirectiveSyntax = {
    left: false, plus: false, space: false, alternate: false, zero: false, flagCount: 0,
    width: '', precision: null, qualifier: '', conversion: '', end: percent,
  };
  let index = percent;
  for (;; index++) {
    const flag = format[index];
    if (flag === '-') directive.left = true;
    else if (flag === '+') directive.plus = true;
    else if (flag === ' ') directive.space = true;
    else if (flag === '#') directive.alternate = true;
    else if (flag === '0') directive.zero = true;
    else break;
  }
  directive.flagCount = index - percent;
  directive.width = format[index] === '*' ? '*' : digitsAt(format, index);
  index += directive.width.length;
  if (format[index] === '.') {
    index++;
    directive.precision = format[index] === '*' ? '*' : digitsAt(format, index);
    index += directive.precision.length;
  }
  directive.qualifier = qualifiers.find((candidate) => format.startsWith(candidate, index)) ?? '';
  index += directive.qualifier.length;
  directive.conversion = index < format.length ? format[index++]! : '';
  directive.end = index;
  return directive;
}
