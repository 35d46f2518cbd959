// Enum constants from the kernel's BTF (/sys/kernel/btf/vmlinux), for the print fmts that name
// them (Documentation/bpf/btf.rst).

import { PrintFormatError } from './tokens';

const BTF_MAGIC = 0xeb9f;
const BTF_KIND_ENUM = 6;
const BTF_KIND_ENUM64 = 19;
/** Bytes that follow a type's 12-byte header: [fixed, per vlen item], indexed by kind. */
const BTF_TRAILERS: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [4, 0], [0, 0], [12, 0], [0, 12], [0, 12], [0, 8], [0, 0], [0, 0], [0, 0],
  [0, 0], [0, 0], [0, 0], [0, 8], [4, 0], [0, 12], [0, 0], [4, 0], [0, 0], [0, 12],
];

/**
 * The enumerators of a base BTF blob (vmlinux's; split module BTF is not read) by name. A
 * name that several enums define with different values is left out, as it cannot be told
 * which one a print fmt means. Throws PrintFormatError on a blob it cannot walk.
 */
export function btfEnumValues(btf: Uint8Array): Map<string, bigint> {
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (btf.byteLength < 24 || view.getUint16(0, true) !== BTF_MAGIC) throw new PrintFormatError('not little-endian BTF');
  const headerLength = view.getUint32(4, true);
  const typesStart = headerLength + view.getUint32(8, true);
  const typesEnd = typesStart + view.getUint32(12, true);
  const stringsStart = headerLength + view.getUint32(16, true);
  const stringsEnd = stringsStart + view.getUint32(20, true);
  if (typesEnd > btf.byteLength || stringsEnd > btf.byteLength) throw new PrintFormatError('truncated BTF');
  const name = (offset: number): string => {
    const start = stringsStart + offset;
    const end = btf.indexOf(0, start);
    return Buffer.from(btf.buffer, btf.byteOffset + start, (end < 0 ? stringsEnd : end) - start).toString('latin1');
  };
  const values = new Map<string, bigint>();
  const ambiguous = new Set<string>();
  for (let position = typesStart; position < typesEnd;) {
    const info = view.getUint32(position + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const count = info & 0xffff;
    const signed = info >>> 31 === 1;
    const trailer = BTF_TRAILERS[kind];
    if (!trailer) throw new PrintFormatError(`unknown BTF kind ${kind}`);
    position += 12;
    if (kind === BTF_KIND_ENUM || kind === BTF_KIND_ENUM64) {
      for (let index = 0; index < count; index++, position += trailer[1]) {
        const low = view.getUint32(position + 4, true);
        const value = kind === BTF_KIND_ENUM
          ? BigInt(signed ? low | 0 : low)
          : BigInt[signed ? 'asIntN' : 'asUintN'](64, (BigInt(view.getUint32(position + 8, true)) << 32n) | BigInt(low));
        const enumerator = name(view.getUint32(position, true));
        const known = values.get(enumerator);
        if (known === undefined && !ambiguous.has(enumerator)) values.set(enumerator, value);
        else if (known !== value) {
          values.delete(enumerator);
          ambiguous.add(enumerator);
        }
      }
    } else {
      position += trailer[0] + count * trailer[1];
    }
  }
  return values;
}
