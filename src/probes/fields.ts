// Reading one record's fields in place, on demand: the common header (event id, context
// flags, pid) at its fixed offsets and any format field as a ktap value (SPEC §4.10).

import {
  COMMON_FLAGS_OFFSET,
  COMMON_PID_OFFSET,
  COMMON_PREEMPT_COUNT_OFFSET,
  COMMON_TYPE_OFFSET,
  type FieldLayout,
} from './format';

/** The bytes of a page, twice: Buffer for strings, DataView for integers. */
export interface PageBytes {
  readonly page: Buffer;
  readonly view: DataView;
}

/** A decoded field: a canonical ktap number, a byte string, or nil. */
export type FieldValue = number | bigint | string | undefined;

/** Bits of `common_flags` (enum trace_flag_type, include/linux/trace_events.h, 6.12+). */
export const TRACE_FLAG_IRQS_OFF = 0x01;
export const TRACE_FLAG_NEED_RESCHED_LAZY = 0x02;
export const TRACE_FLAG_NEED_RESCHED = 0x04;
export const TRACE_FLAG_HARDIRQ = 0x08;
export const TRACE_FLAG_SOFTIRQ = 0x10;
export const TRACE_FLAG_PREEMPT_RESCHED = 0x20;
export const TRACE_FLAG_NMI = 0x40;
export const TRACE_FLAG_BH_OFF = 0x80;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_TO_32 = 2 ** 32;

/** `common_type`: the event id, to find the record's layout. */
export function recordEventId(bytes: PageBytes, offset: number): number {
  return bytes.view.getUint16(offset + COMMON_TYPE_OFFSET, true);
}

/** `common_flags`: TRACE_FLAG_* bits (irqs off, in hardirq/softirq/NMI, resched). */
export function recordFlags(bytes: PageBytes, offset: number): number {
  return bytes.view.getUint8(offset + COMMON_FLAGS_OFFSET);
}

/** `common_preempt_count`: preemption depth in the low 4 bits, migrate-disable depth in the high 4. */
export function recordPreemptCount(bytes: PageBytes, offset: number): number {
  return bytes.view.getUint8(offset + COMMON_PREEMPT_COUNT_OFFSET);
}

/** `common_pid`: the thread id of the task that recorded the event (0 for idle). */
export function recordPid(bytes: PageBytes, offset: number): number {
  return bytes.view.getInt32(offset + COMMON_PID_OFFSET, true);
}

/**
 * The value of `field` in the record `[offset, offset + length)`: integers as canonical
 * numbers (8-byte ones signed whatever the format says, SPEC §4.10), `char` arrays and
 * `__data_loc`/`__rel_loc` strings as byte strings up to the first NUL, nil for other kinds
 * and for fields or string locations that lie outside the record.
 */
export function readField(bytes: PageBytes, offset: number, length: number, field: FieldLayout): FieldValue {
  const fieldEnd = field.offset + field.size;
  if (fieldEnd > length) return undefined;
  const position = offset + field.offset;
  const view = bytes.view;
  switch (field.kind) {
    case 'int':
      switch (field.size) {
        case 1: return field.signed ? view.getInt8(position) : view.getUint8(position);
        case 2: return field.signed ? view.getInt16(position, true) : view.getUint16(position, true);
        case 4: return field.signed ? view.getInt32(position, true) : view.getUint32(position, true);
        default: return readInt64(view, position);
      }
    case 'chars':
      // `char NAME[]` (size 0) is the record's tail, as in ftrace:print's buf.
      return byteString(bytes.page, position, field.size === 0 ? offset + length : position + field.size);
    case 'dataloc':
    case 'relloc': {
      const location = view.getUint32(position, true);
      const start = (location & 0xffff) + (field.kind === 'relloc' ? fieldEnd : 0);
      const end = start + (location >>> 16);
      if (end > length) return undefined;
      return byteString(bytes.page, offset + start, offset + end);
    }
    default:
      return undefined;
  }
}

function readInt64(view: DataView, position: number): number | bigint {
  const high = view.getInt32(position + 4, true);
  const value = high * TWO_TO_32 + view.getUint32(position, true);
  // Exact whenever it is within the safe range, which is all that is kept as a number.
  if (value <= MAX_SAFE && value >= -MAX_SAFE) return value;
  return view.getBigInt64(position, true);
}

/** Bytes [start, end) up to the first NUL as a byte string (char codes 0…255). */
function byteString(page: Buffer, start: number, end: number): string {
  let stop = start;
  while (stop < end && page[stop] !== 0) stop++;
  return page.toString('latin1', start, stop);
}
