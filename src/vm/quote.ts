// Strings shown to the user inside messages and listings, written as ktap string literals
// would be, so that control bytes from a hostile file or script never reach the terminal and a
// message stays one printable line.

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\\\', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v',
};

/**
 * `text` between `quote`s, written as a ktap string literal would be, so that control bytes
 * from a hostile file never reach the terminal; when the inside would be longer than
 * `maxLength` characters, it is cut there and marked with `...`.
 */
export function quoteBytes(text: string, quote: '"' | "'", maxLength = Infinity): string {
  const { body, cut } = escaped(text, quote, maxLength);
  return quote + body + quote + (cut ? '...' : '');
}

/**
 * `text` inside a message: as it is when it is printable ASCII (the usual case, worded as
 * SPEC words the message), otherwise with the escapes of quoteBytes.
 */
export function printable(text: string, maxLength = Infinity): string {
  const { body, cut } = escaped(text, undefined, maxLength);
  return body + (cut ? '...' : '');
}

function escaped(text: string, quote: string | undefined, maxLength: number): { body: string; cut: boolean } {
  let body = '';
  for (let index = 0; index < text.length; index++) {
    const character = text[index]!;
    const code = text.charCodeAt(index);
    const piece = character === quote ? '\\' + quote
      : SIMPLE_ESCAPES[character] ?? (code < 0x20 || code >= 0x7f ? '\\x' + code.toString(16).padStart(2, '0') : character);
    if (body.length + piece.length > maxLength) return { body, cut: true };
    body += piece;
  }
  return { body, cut: false };
}
