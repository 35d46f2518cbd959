// The shape of a builtin: one entry per function, gathered by lib/index.ts into THE builtin
// registry that feeds the VM's globals, the compiler's global names, --help and completion.

import type { Runtime } from '../runtime';
import type { KFunction } from '../value';

export interface BuiltinDef {
  /** Function name; for a library member, the member name (`set_color`). */
  readonly name: string;
  /** Library table the function lives in (`ansi`, `table`, …); absent for a global function. */
  readonly library?: LibraryName;
  /** Parameter list as shown in help, e.g. `(fmt, ...)`. */
  readonly params: string;
  /** One line for --help and completion. */
  readonly doc: string;
  /**
   * What only the event's moment can give this builtin, so the session arranges it before
   * events flow: the kernel or user call stack recorded with each event, (`argString`) a
   * string at a user address passed as argN or args.NAME, or (`argv`) the strings of a
   * `char **` array passed so, copied while the task still exists.
   */
  readonly captures?: 'kernelStack' | 'userStack' | 'argString' | 'argv';
  /** Creates the function for one runtime. Throw RuntimeError for script-visible failures. */
  make(rt: Runtime): KFunction;
}

export const LIBRARY_NAMES = ['table', 'ansi', 'timer', 'kdebug', 'net', 'string'] as const;
export type LibraryName = (typeof LIBRARY_NAMES)[number];
