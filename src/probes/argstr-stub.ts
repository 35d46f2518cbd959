import type { EventLayout } from './format';
import { readField, type PageBytes } from './fields';
export function compileArgstr(layout: EventLayout, _options: { kernelSymbol?: (a: bigint) => string | undefined }) {
  return (bytes: PageBytes, offset: number, length: number): string =>
    `${layout.name}: ` + layout.fields.map((f) => `${f.name}=${String(readField(bytes, offset, length, f))}`).join(' ');
}
