// `ktap -lv GLOB`: each matching tracepoint with its fields — the argN position, the type
// and the name that args.NAME reads — so a one-liner needs no trip to a format file.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEventFormat, type EventLayout } from './format';
import { listEvents } from './resolve';

/** argN reaches the first ten own fields (SPEC §4.10). */
const ARG_FIELDS = 10;

/** The lines describing one event: its name, then one indented line per field. */
export function describeEvent(layout: EventLayout): string[] {
  const lines = [`${layout.system}:${layout.name}`];
  layout.fields.forEach((field, index) => {
    const position = index < ARG_FIELDS ? `arg${index}` : '';
    lines.push(`    ${position.padEnd(6)}${`${field.type} ${field.name}`.padEnd(40)} args.${field.name}`);
  });
  if (layout.fields.some((field) => field.name === '__probe_ret_ip') && layout.fields.some((field) => field.name === 'arg2')) {
    lines.push(`    ${''.padEnd(6)}${'(the value returned)'.padEnd(40)} args.retval`);
  }
  return lines;
}

/** Every tracepoint matching `glob` (as -le matches) with its fields. */
export function listEventFields(root: string, glob?: string): string[] {
  const lines: string[] = [];
  for (const name of listEvents(root, glob)) {
    const [system, event] = name.split(':') as [string, string];
    let text: string;
    try {
      text = readFileSync(join(root, 'events', system, event, 'format'), 'latin1');
    } catch {
      lines.push(name, '    (no format file)');
      continue;
    }
    lines.push(...describeEvent(parseEventFormat(text, system)));
  }
  return lines;
}
