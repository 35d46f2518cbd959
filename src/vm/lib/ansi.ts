// The ansi library (SPEC §5.5): terminal escape sequences written to the script output.
// Arguments are SGR numbers; any other type is `wrong type of argument N`.

import type { Runtime } from '../runtime';
import { toDisplayString, type Value } from '../value';
import { numberArgument } from './arguments';
import type { BuiltinDef } from './registry';

/** The codes in decimal, each checked in argument order. */
function checkedCodes(codes: readonly Value[]): string[] {
  return codes.map((code, index) => toDisplayString(numberArgument(code, index + 1)));
}

/** Writes `ESC [ code;code… m`. */
function selectGraphicRendition(rt: Runtime, codes: readonly string[]): undefined {
  rt.out.printf(`\x1b[${codes.join(';')}m`);
  return undefined;
}

/** A member that writes a fixed sequence. */
function writer(name: string, doc: string, text: string): BuiltinDef {
  return {
    name,
    library: 'ansi',
    params: '()',
    doc,
    make: (rt) => () => {
      rt.out.printf(text);
      return undefined;
    },
  };
}

export const ANSI_BUILTINS: readonly BuiltinDef[] = [
  writer('clear_screen', 'clear the terminal and move the cursor home', '\x1b[1;1H\x1b[J'),
  {
    name: 'set_color',
    library: 'ansi',
    params: '(fg)',
    doc: 'set the foreground color (30-37)',
    make: (rt) => (foreground: Value) => selectGraphicRendition(rt, checkedCodes([foreground])),
  },
  {
    name: 'set_color2',
    library: 'ansi',
    params: '(fg, bg)',
    doc: 'set the foreground (30-37) and background (40-47) colors',
    make: (rt) => (foreground: Value, background: Value) => selectGraphicRendition(rt, checkedCodes([foreground, background])),
  },
  {
    name: 'set_color3',
    library: 'ansi',
    params: '(fg, bg, attr)',
    doc: 'set the colors and an attribute (0 1 4 5 6 7; 0 adds none)',
    make: (rt) => (foreground: Value, background: Value, attribute: Value) => {
      const codes = checkedCodes([foreground, background, attribute]);
      // An attribute of 0 (reset) is left out, as ktap did.
      return selectGraphicRendition(rt, attribute === 0 ? codes.slice(0, 2) : codes);
    },
  },
  writer('reset_color', 'reset the colors', '\x1b[0;0m'),
  writer('new_line', 'write a newline', '\n'),
];
