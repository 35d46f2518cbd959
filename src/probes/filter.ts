// Kernel event filters (SPEC §4.8) read in user space: the fields a filter names, checked
// against an event's fields as the kernel checks them, for the dry run, which writes nothing.

/** Fields every event's filter may name besides its own and the common_ ones (kernel 6.x). */
const GENERIC_FIELDS = ['CPU', 'cpu', 'common_cpu', 'COMM', 'comm', 'stacktrace', 'STACKTRACE'];

/**
 * The field names a filter's predicates start with: the identifier at the start and after
 * `(`, `!`, `&&` and `||` (`field.function` counts as `field`). Values are skipped; quoted
 * strings are passed over whole. The rest of the grammar is left to the kernel.
 */
export function filterFields(filter: string): string[] {
  const fields: string[] = [];
  let expectField = true;
  let index = 0;
  while (index < filter.length) {
    const character = filter[index]!;
    if (/\s/.test(character)) {
      index++;
    } else if (character === '"' || character === "'") {
      const close = filter.indexOf(character, index + 1);
      index = close < 0 ? filter.length : close + 1;
      expectField = false;
    } else if (filter.startsWith('&&', index) || filter.startsWith('||', index)) {
      index += 2;
      expectField = true;
    } else if (character === '(' || (character === '!' && filter[index + 1] !== '=' && filter[index + 1] !== '~')) {
      index++;
      expectField = true;
    } else {
      const name = /^[A-Za-z_]\w*/.exec(filter.slice(index));
      if (expectField && name !== null) fields.push(name[0]);
      index += name === null ? 1 : name[0].length;
      expectField = false;
    }
  }
  return fields;
}

/** The first field FILTER names that an event with FIELDS lacks (the kernel's `Field not found`). */
export function missingFilterField(filter: string, fields: Iterable<string>): string | undefined {
  const known = new Set([...fields, ...GENERIC_FIELDS]);
  return filterFields(filter).find((field) => !known.has(field));
}
