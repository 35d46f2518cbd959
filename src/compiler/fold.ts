// Constant folding: the compile-time value of a literal or of arithmetic on literals, which
// the code generator loads as one constant.

import type { Expression } from './ast';
import type { Constant } from '../vm/proto';
import { addExact, divExact, modExact, mulExact, negExact, subExact } from '../vm/value';

const FOLDERS = { '+': addExact, '-': subExact, '*': mulExact, '/': divExact, '%': modExact } as const;

/**
 * The compile-time value of a literal or a foldable arithmetic expression, computed exactly
 * as run time would; division and remainder by zero are never folded (they fail when run).
 */
export function constantValue(expression: Expression): Constant | undefined {
  switch (expression.kind) {
    case 'number':
    case 'string':
      return expression.value;
    case 'paren':
      return constantValue(expression.inner);
    case 'unary': {
      if (expression.operator !== '-') return undefined;
      const operand = constantValue(expression.operand);
      return typeof operand === 'number' || typeof operand === 'bigint' ? negExact(operand) : undefined;
    }
    case 'binary': {
      const operator = expression.operator;
      if (operator !== '+' && operator !== '-' && operator !== '*' && operator !== '/' && operator !== '%') return undefined;
      const left = constantValue(expression.left);
      const right = constantValue(expression.right);
      if (typeof left === 'string' || typeof right === 'string' || left === undefined || right === undefined) return undefined;
      if ((operator === '/' || operator === '%') && (right === 0 || right === 0n)) return undefined;
      return FOLDERS[operator](left, right);
    }
    default:
      return undefined;
  }
}
