// Mutations of real scripts (the golden tests and samples): byte, token and line edits,
// splices of two scripts and grafts of generated code, the way a user's typos and
// half-edited files look to the lexer and parser.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Random } from '../seeded-random';
import { generateProgram } from './program-generator';

const REPOSITORY = resolve(__dirname, '..', '..');

/** Every .kp file under test/golden and samples, as byte strings, in a stable order. */
export function loadCorpus(): string[] {
  const files: string[] = [];
  const walk = (directory: string): void => {
    for (const name of readdirSync(directory).sort()) {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.kp')) files.push(path);
    }
  };
  walk(join(REPOSITORY, 'test', 'golden'));
  walk(join(REPOSITORY, 'samples'));
  return files.map((path) => readFileSync(path, 'latin1'));
}

const TOKENS = [
  '(', ')', '{', '}', '[', ']', '=', '+=', '..', '...', ',', ';', ':', '::', '.', '#', '--', '--[[', ']]', '"', "'",
  '\\', '\n', '\r', '\r\n', '\t', '\0', '\x7f', '\xff', '\xef\xbb\xbf', 'if', 'else', 'elseif', 'while', 'for', 'in',
  'repeat', 'until', 'do', 'end', 'function', 'return', 'break', 'var', 'trace', 'tick-', 'profile-', 'trace_end',
  'nil', 'true', 'false', 'arg1', 'argstr', 'execname', 'goto', 'ffi', '^', '&', '|', '~', '@', '$', '?', '`',
  '0x', '0x1p4', '1e5', '9223372036854775808', '[==[', ']==]', '\\z', '\\x', '\\999', '%', '&&', '||', '!', '!=',
];

function randomText(random: Random, length: number): string {
  let text = '';
  for (let index = 0; index < length; index++) text += String.fromCharCode(random(4) === 0 ? random(256) : 32 + random(95));
  return text;
}

/** One edit of `source`; `corpus` supplies splice partners. */
const EDITS: ReadonlyArray<(source: string, random: Random, corpus: readonly string[]) => string> = [
  function deleteSpan(source, random) {
    const at = random(source.length + 1);
    return source.slice(0, at) + source.slice(at + 1 + random(random(2) === 0 ? 4 : 64));
  },
  function insertToken(source, random) {
    const at = random(source.length + 1);
    return source.slice(0, at) + TOKENS[random(TOKENS.length)] + source.slice(at);
  },
  function replaceByte(source, random) {
    const at = random(source.length);
    return source.slice(0, at) + String.fromCharCode(random(256)) + source.slice(at + 1);
  },
  function duplicateSpan(source, random) {
    const start = random(source.length + 1);
    const span = source.slice(start, start + 1 + random(80));
    const at = random(source.length + 1);
    return source.slice(0, at) + span + source.slice(at);
  },
  function swapLines(source, random) {
    const lines = source.split('\n');
    const first = random(lines.length);
    const second = random(lines.length);
    [lines[first], lines[second]] = [lines[second]!, lines[first]!];
    return lines.join('\n');
  },
  function splice(source, random, corpus) {
    const other = corpus[random(corpus.length)]!;
    return source.slice(0, random(source.length + 1)) + other.slice(random(other.length + 1));
  },
  function graftProgram(source, random) {
    const lines = source.split('\n');
    lines.splice(random(lines.length + 1), 0, generateProgram(random));
    return lines.join('\n');
  },
  function nest(source, random) {
    const at = random(source.length + 1);
    const depth = 1 + random(random(8) === 0 ? 400 : 20);
    const [open, close] = [['(', ')'], ['{', '}'], ['{ ', ' }'], ['-', ''], ['!', ''], ['[', ']']][random(6)]!;
    return source.slice(0, at) + open.repeat(depth) + source.slice(at, at + random(20)) + close.repeat(random(2) === 0 ? depth : random(depth + 1)) + source.slice(at);
  },
  function insertNoise(source, random) {
    const at = random(source.length + 1);
    return source.slice(0, at) + randomText(random, 1 + random(12)) + source.slice(at);
  },
  function truncate(source, random) {
    return source.slice(0, random(source.length + 1));
  },
];

/** 1 to 3 edits of a random corpus script. */
export function mutateSource(random: Random, corpus: readonly string[]): string {
  let source = corpus[random(corpus.length)]!;
  for (let rounds = 1 + random(3); rounds > 0; rounds--) source = EDITS[random(EDITS.length)]!(source, random, corpus);
  return source;
}
