// argstr (SPEC §4.11): an event rendered as the kernel's trace file shows it. Each event type's
// renderer is compiled once from its format (this folder); rendering a record then only reads fields.

import type { EventLayout } from '../format';
import { ExpressionCompiler } from './evaluate';
import { Parser } from './parser';
import { type ArgstrOptions, type ArgstrRenderer, fieldListRenderer, syscallRenderer } from './renderers';
import { PrintFormatError, tokenize } from './tokens';
import { compileConversions } from './vsprintf';

/**
 * The renderer of an event type: syscalls as `sys_NAME(ARG: V, …)` and `sys_NAME -> 0xV`,
 * other events as `EVENT: ` + their print fmt, or `EVENT: NAME=VALUE …` when the print fmt
 * cannot be rendered. That choice is made here, once; the renderer never throws.
 */
export function compileArgstr(layout: EventLayout, options: ArgstrOptions = {}): ArgstrRenderer {
  const fallback = fieldListRenderer(layout);
  let render = syscallRenderer(layout);
  if (!render) {
    try {
      render = compilePrintFormat(layout, options);
    } catch {
      // PrintFormatError, or a print fmt odd enough to break the compiler: either way the
      // event still renders (the survey test holds the compiler to PrintFormatError).
      return fallback;
    }
  }
  const renderer = render;
  // Fixed fields are read without bounds checks; a record too short for them (never written
  // by the kernel, but pages can be corrupt) gets the checked field list instead.
  const fixedEnd = layout.fields.reduce((end, field) => Math.max(end, field.offset + field.size), 0);
  return (bytes, offset, length) => {
    if (length < fixedEnd) return fallback(bytes, offset, length);
    try {
      return renderer(bytes, offset, length);
    } catch {
      // Dynamic locations are checked, so only a page lying about its records gets here.
      return fallback(bytes, offset, length);
    }
  };
}

/**
 * `EVENT: ` + the event's print fmt evaluated on the record. Throws PrintFormatError when
 * the print fmt uses something this evaluator does not support.
 */
export function compilePrintFormat(layout: EventLayout, options: ArgstrOptions = {}): ArgstrRenderer {
  const items = new Parser(tokenize(layout.printFmt)).list();
  const format = items[0];
  if (format?.kind !== 'string') throw new PrintFormatError('print fmt does not start with a string');
  const { literals, pieces } = compileConversions(format.value, items.slice(1), new ExpressionCompiler(layout, options));
  const prefix = `${layout.name}: ${literals[0]}`;
  const count = pieces.length;
  if (count === 0) return () => prefix;
  return (bytes, offset, length) => {
    let text = prefix;
    for (let index = 0; index < count; index++) text += pieces[index]!(bytes, offset, length) + literals[index + 1]!;
    return text;
  };
}

export { btfEnumValues } from './btf';
export { formatKernelSymbol, kernelAddressText } from './evaluate';
export type { ArgstrOptions, ArgstrRenderer } from './renderers';
export { PrintFormatError } from './tokens';
