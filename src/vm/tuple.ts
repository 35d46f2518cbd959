// Tuple values: the keys of multi-key tables (`t[execname, probename]`). A tuple is
// interned, so the same parts give the same object and `===`, Map keys and `==` compare
// tuples by value without any help from the table or the translated code.

import { RuntimeError } from './errors';
import type { Value } from './value';

export class KTuple {
  /** `encoding` identifies the parts exactly (see encodePart); only `tuple()` makes tuples. */
  private constructor(readonly parts: readonly Value[], readonly encoding: string) {}

  /** GETTABLE on a tuple: part k (1-based), nil outside 1…n. */
  get(index: Value): Value {
    return typeof index === 'number' && index >= 1 && Number.isInteger(index) ? this.parts[index - 1] : undefined;
  }

  set(): never {
    throw new RuntimeError('cannot change a part of a tuple');
  }

  static intern(parts: readonly Value[], encoding: string): KTuple {
    const known = interned.get(encoding)?.deref();
    if (known !== undefined) return known;
    const made = new KTuple(parts, encoding);
    interned.set(encoding, new WeakRef(made));
    forget.register(made, encoding);
    return made;
  }
}

// The intern table holds tuples weakly: a key no table keeps is collected, and its entry
// removed, so distinct keys seen once do not accumulate.
const interned = new Map<string, WeakRef<KTuple>>();
const forget = new FinalizationRegistry<string>((encoding) => {
  if (interned.get(encoding)?.deref() === undefined) interned.delete(encoding);
});

/** Each part's encoding is self-delimiting, so concatenations cannot collide. */
function encodePart(part: Value): string {
  switch (typeof part) {
    case 'undefined': return 'z';
    case 'boolean': return part ? 't' : 'f';
    case 'number': case 'bigint': return `n${part};`;
    case 'string': return `s${part.length}:${part}`;
    default:
      if (part instanceof KTuple) return `(${part.encoding.length}:${part.encoding}`;
      throw new RuntimeError('a tuple key holds only numbers, strings, booleans, nil and tuples');
  }
}

/** TUPLE: the tuple of these parts. */
export function tuple(...parts: Value[]): KTuple {
  let encoding = '';
  for (const part of parts) encoding += encodePart(part);
  return KTuple.intern(parts, encoding);
}
