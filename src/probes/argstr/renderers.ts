// The renderers that need no print fmt: syscalls, which the kernel prints with its own
// functions (print_syscall_enter/exit), and the NAME=VALUE field list every event falls back to.

import { type PageBytes, readField } from '../fields';
import type { EventLayout } from '../format';
import type { KernelSymbol } from '../kallsyms';

/** Renders one record `[offset, offset + length)` of `bytes`, without line header or newline. */
export type ArgstrRenderer = (bytes: PageBytes, offset: number, length: number) => string;

export interface ArgstrOptions {
  /**
   * The kernel symbol holding an address, for `%pS` (`vfs_read+0x10/0x1b0`) and `%ps`
   * (`vfs_read`); KernelSymbols.lookup fits. An address without one (or without this option)
   * prints as `0x` + hex, as the kernel prints one it cannot name.
   */
  readonly kernelSymbol?: (address: bigint) => KernelSymbol | undefined;
  /**
   * The value of an enum constant a print fmt names (the kernel substitutes only those its
   * tracepoints declare with TRACE_DEFINE_ENUM), e.g. from `btfEnumValues`; a print fmt
   * naming one it does not know falls back to the field list.
   */
  readonly enumValue?: (name: string) => bigint | undefined;
}

const SYSCALL_ENTER = 'sys_enter_';
const SYSCALL_EXIT = 'sys_exit_';

export function syscallRenderer(layout: EventLayout): ArgstrRenderer | undefined {
  if (layout.system !== 'syscalls') return undefined;
  const parameters = layout.fields.slice(layout.fields.findIndex((field) => field.name === '__syscall_nr') + 1);
  if (!parameters.every((field) => field.kind === 'int' && field.size === 8)) return undefined;
  if (layout.name.startsWith(SYSCALL_ENTER)) {
    const opening = `sys_${layout.name.slice(SYSCALL_ENTER.length)}(`;
    const labels = parameters.map((field, index) => `${index === 0 ? '' : ', '}${field.name}: `);
    const positions = parameters.map((field) => field.offset);
    return (bytes, offset) => {
      let text = opening;
      for (let index = 0; index < positions.length; index++) {
        text += labels[index]! + hex64(bytes.view, offset + positions[index]!);
      }
      return text + ')';
    };
  }
  if (layout.name.startsWith(SYSCALL_EXIT) && parameters.length > 0) {
    const prefix = `sys_${layout.name.slice(SYSCALL_EXIT.length)} -> 0x`;
    const position = (parameters.find((field) => field.name === 'ret') ?? parameters[0]!).offset;
    return (bytes, offset) => prefix + hex64(bytes.view, offset + position);
  }
  return undefined;
}

/** The 8 bytes at `position` as unsigned lowercase hex, from two 32-bit halves (no bigint). */
export function hex64(view: DataView, position: number): string {
  const low = view.getUint32(position, true);
  const high = view.getUint32(position + 4, true);
  return high === 0 ? low.toString(16) : high.toString(16) + low.toString(16).padStart(8, '0');
}

/** `EVENT: NAME=VALUE …` with the values scripts see as argN (nil for unreadable fields). */
export function fieldListRenderer(layout: EventLayout): ArgstrRenderer {
  const prefix = `${layout.name}: `;
  const fields = layout.fields;
  const labels = fields.map((field, index) => `${index === 0 ? '' : ' '}${field.name}=`);
  return (bytes, offset, length) => {
    let text = prefix;
    for (let index = 0; index < fields.length; index++) {
      const value = readField(bytes, offset, length, fields[index]!);
      text += labels[index]! + (value === undefined ? 'nil' : String(value));
    }
    return text;
  };
}
