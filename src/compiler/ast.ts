// The syntax tree: a discriminated union per statement and expression, each node with the
// source line the code generator attaches to its instructions.

import type { EventVariable, HandlerKind } from '../vm/opcodes';

export type BinaryOperator =
  | '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '..' | '+' | '-' | '*' | '/' | '%'
  | '&' | '|' | '~' | '<<' | '>>' | '>>>';

export type Expression =
  | { kind: 'nil'; line: number }
  | { kind: 'boolean'; value: boolean; line: number }
  | { kind: 'number'; value: number | bigint; line: number }
  | { kind: 'string'; value: string; line: number }
  | { kind: 'name'; name: string; line: number }
  | { kind: 'eventvar'; name: EventVariable; line: number }
  | { kind: 'index'; object: Expression; key: Expression; line: number }
  | { kind: 'call'; callee: Expression; args: Expression[]; line: number }
  | { kind: 'method'; object: Expression; method: string; args: Expression[]; line: number }
  | { kind: 'function'; func: FunctionBody; line: number }
  | { kind: 'table'; fields: TableField[]; line: number }
  | { kind: 'binary'; operator: BinaryOperator; left: Expression; right: Expression; line: number }
  | { kind: 'unary'; operator: '-' | '!' | '~'; operand: Expression; line: number }
  /** `t[a, b]`: a key of several values (a tuple), compared by value. */
  | { kind: 'tuple'; parts: Expression[]; line: number }
  | { kind: 'paren'; inner: Expression; line: number };

export type TableField =
  | { kind: 'positional'; value: Expression }
  | { kind: 'keyed'; key: Expression; value: Expression };

/** What can stand left of `=` or `+=`. */
export type AssignTarget =
  | { kind: 'name'; name: string; line: number }
  | { kind: 'index'; object: Expression; key: Expression; line: number };

export interface FunctionBody {
  name: string;
  params: string[];
  body: Block;
  line: number;
  lastLine: number;
}

export interface Block {
  statements: Statement[];
  /** A final `return [expr]`. */
  returns?: { value?: Expression; line: number };
}

export type Statement =
  | { kind: 'var'; names: string[]; values: Expression[]; line: number }
  /** `function NAME …` and `var function NAME …`: a local visible in its own body. */
  | { kind: 'function'; name: string; func: FunctionBody; line: number }
  | { kind: 'assign'; targets: AssignTarget[]; values: Expression[]; line: number }
  | { kind: 'increment'; target: AssignTarget; value: Expression; line: number }
  | { kind: 'call'; call: Expression; line: number }
  | { kind: 'if'; clauses: Array<{ condition: Expression; body: Block }>; otherwise?: Block; line: number }
  | { kind: 'while'; condition: Expression; body: Block; line: number }
  | { kind: 'repeat'; body: Block; condition: Expression; line: number }
  | { kind: 'fornum'; variable: string; start: Expression; limit: Expression; step?: Expression; body: Block; line: number }
  /** `iterator` must be `pairs(expr)`; the resolver checks it (a † error). */
  | { kind: 'forin'; key: string; value?: string; iterator: Expression; body: Block; line: number }
  | { kind: 'do'; body: Block; line: number }
  | { kind: 'break'; line: number }
  | { kind: 'label'; name: string; line: number }
  | { kind: 'handler'; handler: HandlerKind; header: string; func: FunctionBody; line: number };

export interface Chunk {
  body: Block;
  /** Last line of the chunk, for the main function's line span. */
  lastLine: number;
}
