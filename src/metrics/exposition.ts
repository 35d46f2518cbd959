// The Prometheus text exposition format (version 0.0.4), written exactly: valid metric
// names, escaped label values and HELP text, HELP and TYPE lines before each family's samples.

/** The Content-Type of a scrape answer. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge';

/**
 * A valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) made from any text: every other character
 * becomes `_`, and a leading digit gets a `_` in front.
 */
export function metricName(text: string): string {
  const name = text.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(name) || name === '' ? `_${name}` : name;
}

/** A label value between its quotes: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/[\\"\n]/g, (character) => (character === '\n' ? '\\n' : `\\${character}`)) : value;
}

/** HELP text: `\` → `\\` and newline → `\n` (quotes stay as they are in this format). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (character) => (character === '\n' ? '\\n' : '\\\\'));
}

/** `{name="value",…}` for label names already valid, or '' for none. */
export function labelSet(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  let text = '{';
  for (let index = 0; index < names.length; index++) {
    if (index > 0) text += ',';
    text += `${names[index]}="${escapeLabelValue(values[index]!)}"`;
  }
  return text + '}';
}

/** A sample value: integers exactly (bigints included), and the format's spellings of NaN and infinities. */
export function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** One sample line; `labels` comes from labelSet. */
export function sampleLine(name: string, labels: string, value: number | bigint): string {
  return `${name}${labels} ${formatValue(value)}\n`;
}

/** Builds one exposition text, family by family. */
export class ExpositionWriter {
  private text_ = '';

  /**
   * A whole family: its HELP and TYPE lines, then its sample lines, given as
   * [labels, value] rows or as the text of sampleLine calls.
   */
  family(name: string, type: MetricType, help: string, samples: Iterable<readonly [string, number | bigint]> | string): void {
    this.text_ += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    if (typeof samples === 'string') {
      this.text_ += samples;
      return;
    }
    for (const [labels, value] of samples) this.text_ += sampleLine(name, labels, value);
  }

  text(): string {
    return this.text_;
  }
}
