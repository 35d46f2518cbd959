// The kernel's self-description of binary trace records: an event's `format` file (field
// names, types, offsets, sizes), `header_page` (ring-buffer page header) and `header_event`.

import { UserError } from '../errors';

/** How a field's bytes become a ktap value (SPEC §4.10). */
export type FieldKind =
  | 'int'      // a 1, 2, 4 or 8 byte integer (pointers and enums included); `signed` says how
  | 'chars'    // `char NAME[N]`: a string up to the first NUL; `char NAME[]` runs to the record's end
  | 'dataloc'  // `__data_loc char[]`: u32 (length << 16 | offset from the record start)
  | 'relloc'   // `__rel_loc char[]`: u32 (length << 16 | offset from the end of this field)
  | 'other';   // anything else (other arrays, structs, odd sizes): nil to scripts

export interface FieldLayout {
  readonly name: string;
  /** The declaration without the name: `unsigned long`, `char[16]`, `__data_loc char[]`. */
  readonly type: string;
  readonly offset: number;
  readonly size: number;
  readonly signed: boolean;
  readonly kind: FieldKind;
}

export interface EventLayout {
  readonly system: string;
  readonly name: string;
  /** The number records of this event carry in `common_type`. */
  readonly id: number;
  /** The `common_*` fields every record starts with (struct trace_entry). */
  readonly commonFields: readonly FieldLayout[];
  /** The event's own fields in format order: arg0, arg1, … of SPEC §4.10. */
  readonly fields: readonly FieldLayout[];
  /** The text after `print fmt: `, verbatim. */
  readonly printFmt: string;
}

/** A format file this parser cannot make sense of. */
export class EventFormatError extends UserError {
  constructor(message: string) {
    super(message, 'format');
  }
}

// struct trace_entry: the record header of every event. The field accessors read these at
// fixed offsets, so a format that moves them is refused rather than decoded wrongly.
export const COMMON_TYPE_OFFSET = 0;
export const COMMON_FLAGS_OFFSET = 2;
export const COMMON_PREEMPT_COUNT_OFFSET = 3;
export const COMMON_PID_OFFSET = 4;
const EXPECTED_COMMON_FIELDS: ReadonlyArray<readonly [string, number, number]> = [
  ['common_type', COMMON_TYPE_OFFSET, 2],
  ['common_flags', COMMON_FLAGS_OFFSET, 1],
  ['common_preempt_count', COMMON_PREEMPT_COUNT_OFFSET, 1],
  ['common_pid', COMMON_PID_OFFSET, 4],
];

const FIELD_LINE = /^field:\s*(.*?);\s*offset:\s*(\d+);\s*size:\s*(\d+);(?:\s*signed:\s*(\d+);)?/;
// The name is the last identifier of the declaration, optionally followed by `[N]` or `[]`.
const DECLARATION = /^(.*?)\s*\b([A-Za-z_]\w*)\s*(\[[^\]]*\])?$/;
const DYNAMIC_PREFIX = /^__(data|rel)_loc\s+(.*?)\s*\[\]$/;
const CHAR_TYPE = /^(?:const\s+)?(?:signed\s+)?char$/;
const AGGREGATE_TYPE = /^(?:const\s+)?(?:struct|union)\b[^*]*$/;

/** Parses one trimmed `field:…` line; undefined when it is not one. */
function parseFieldLine(line: string): FieldLayout | undefined {
  const match = FIELD_LINE.exec(line);
  if (!match) return undefined;
  const declaration = DECLARATION.exec(match[1]!.trim());
  if (!declaration) return undefined;
  const baseType = declaration[1]!.trim();
  const arraySuffix = declaration[3]?.replace(/\s+/g, '') ?? '';
  const size = Number(match[3]);
  return {
    name: declaration[2]!,
    type: baseType + arraySuffix,
    offset: Number(match[2]),
    size,
    // Formats older than 2.6.31 lack `signed:`; such fields read as unsigned.
    signed: match[4] === '1',
    kind: fieldKind(baseType, arraySuffix !== '', size),
  };
}

function fieldKind(baseType: string, isArray: boolean, size: number): FieldKind {
  const dynamic = DYNAMIC_PREFIX.exec(baseType);
  if (dynamic) {
    if (size !== 4 || !CHAR_TYPE.test(dynamic[2]!)) return 'other';
    return dynamic[1] === 'data' ? 'dataloc' : 'relloc';
  }
  if (isArray) return CHAR_TYPE.test(baseType) ? 'chars' : 'other';
  if (AGGREGATE_TYPE.test(baseType)) return 'other';
  return size === 1 || size === 2 || size === 4 || size === 8 ? 'int' : 'other';
}

/**
 * Parses `events/SYSTEM/EVENT/format`. The file does not name its system, so the caller
 * passes it. Throws EventFormatError naming the event and the line at fault.
 */
export function parseEventFormat(text: string, system: string): EventLayout {
  let name: string | undefined;
  let id: number | undefined;
  let printFmt: string | undefined;
  const commonFields: FieldLayout[] = [];
  const fields: FieldLayout[] = [];
  const lines = text.split('\n');
  const fail = (reason: string): never => {
    throw new EventFormatError(`bad format of ${system}:${name ?? '?'}: ${reason}`);
  };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line === 'format:') continue;
    if (line.startsWith('name:')) {
      name = line.slice(5).trim();
    } else if (line.startsWith('ID:')) {
      const text = line.slice(3).trim();
      if (!/^\d+$/.test(text)) fail(`line ${index + 1}: bad ID '${text}'`);
      id = Number(text);
    } else if (line.startsWith('field:')) {
      const field = parseFieldLine(line);
      if (!field) fail(`line ${index + 1}: cannot parse '${line}'`);
      (field!.name.startsWith('common_') ? commonFields : fields).push(field!);
    } else if (line.startsWith('print fmt:')) {
      // The last item; its string may hold raw newlines (some ext4 events end theirs in one).
      printFmt = [line.slice(10).trim(), ...lines.slice(index + 1)].join('\n').trimEnd();
      break;
    } else {
      fail(`line ${index + 1}: unexpected '${line}'`);
    }
  }
  if (name === undefined || name === '') fail('no name');
  if (id === undefined) fail('no ID');
  for (const [commonName, offset, size] of EXPECTED_COMMON_FIELDS) {
    const field = commonFields.find((candidate) => candidate.name === commonName);
    if (!field || field.offset !== offset || field.size !== size) {
      fail(`${commonName} is not ${size} bytes at offset ${offset}`);
    }
  }
  return { system, name: name!, id: id!, commonFields, fields, printFmt: printFmt ?? '' };
}

/** Where the parts of a ring-buffer page header are (struct buffer_data_page). */
export interface PageHeaderLayout {
  readonly timestampOffset: number;
  readonly commitOffset: number;
  /** sizeof(local_t): 8 on 64-bit kernels, 4 on 32-bit; also the size of the stored missed count. */
  readonly commitSize: number;
  /** Where the records begin. */
  readonly dataOffset: number;
}

/** The page header of 64-bit kernels, as `events/header_page` describes it on x86-64. */
export const PAGE_HEADER_64: PageHeaderLayout = { timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16 };

/** Parses `events/header_page` (`field: u64 timestamp; …`, `field: local_t commit; …`, `field: char data; …`). */
export function parsePageHeader(text: string): PageHeaderLayout {
  const byName = new Map<string, FieldLayout>();
  for (const line of text.split('\n')) {
    const field = parseFieldLine(line.trim());
    // `overwrite` overlays commit's high bits on some kernels; the first field of a name wins.
    if (field && !byName.has(field.name)) byName.set(field.name, field);
  }
  const timestamp = byName.get('timestamp');
  const commit = byName.get('commit');
  const data = byName.get('data');
  if (!timestamp || timestamp.size !== 8 || !commit || (commit.size !== 4 && commit.size !== 8) || !data) {
    throw new EventFormatError('bad format of header_page: needs an 8-byte timestamp, a 4 or 8 byte commit and data');
  }
  if (data.offset < commit.offset + commit.size || commit.offset < timestamp.offset + timestamp.size) {
    throw new EventFormatError('bad format of header_page: fields overlap');
  }
  return { timestampOffset: timestamp.offset, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset };
}

/** The record header the ring buffer uses (`events/header_event`). */
export interface EventHeaderLayout {
  readonly typeLengthBits: number;
  readonly timeDeltaBits: number;
  readonly paddingType: number;
  readonly timeExtendType: number;
  readonly timeStampType: number;
  readonly dataMaxTypeLength: number;
}

/** Parses `events/header_event`; throws EventFormatError when a value is missing. */
export function parseEventHeader(text: string): EventHeaderLayout {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(text);
    if (!match) throw new EventFormatError(`bad format of header_event: no ${what}`);
    return Number(match[1]);
  };
  return {
    typeLengthBits: number(/type_len\s*:\s*(\d+)\s*bits/, 'type_len'),
    timeDeltaBits: number(/time_delta\s*:\s*(\d+)\s*bits/, 'time_delta'),
    paddingType: number(/padding\s*:\s*type\s*==\s*(\d+)/, 'padding'),
    timeExtendType: number(/time_extend\s*:\s*type\s*==\s*(\d+)/, 'time_extend'),
    timeStampType: number(/time_stamp\s*:\s*type\s*==\s*(\d+)/, 'time_stamp'),
    dataMaxTypeLength: number(/data max type_len\s*==\s*(\d+)/, 'data max type_len'),
  };
}
