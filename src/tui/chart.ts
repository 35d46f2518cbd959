// The event-rates line chart (blessed-contrib) under the sparklines when the terminal has room
// for it: the busiest probes' events/s over the last minute on one scale.

import type * as Blessed from 'blessed';
import type { ProbeRates } from './model';

/** Terminals at least this big get the chart; smaller ones keep the sparklines only. */
export const CHART_MIN_WIDTH = 120;
export const CHART_MIN_HEIGHT = 40;
/** Rows the chart needs to be legible (braille dots: 4 per row, less its axis). */
export const CHART_MIN_ROWS = 8;
const COLORS = ['yellow', 'cyan', 'magenta'];
const LEGEND_WIDTH = 30;

interface Series {
  title: string;
  x: string[];
  y: number[];
  style: { line: string };
}

interface LineChart extends Blessed.Widgets.BoxElement {
  setData(series: Series[]): void;
  options: { maxY?: number };
}

type LineFactory = (options: Record<string, unknown>) => LineChart;

/** blessed-contrib's line chart alone (not the whole library, which loads maps and markdown). */
function loadLine(): LineFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('blessed-contrib/lib/widget/charts/line') as LineFactory;
}

export class RatesChart {
  private widget: LineChart | null = null;

  constructor(private readonly screen: Blessed.Widgets.Screen) {}

  /**
   * Puts the chart in `area`, or removes it (null). A new widget each time: blessed-contrib
   * sizes its canvas when the widget is attached, so a resize needs a fresh one.
   */
  place(area: { top: number; left: number; width: number; height: number } | null): void {
    if (this.widget !== null) {
      this.widget.destroy();
      this.widget = null;
    }
    if (area === null || area.height < CHART_MIN_ROWS) return;
    const widget = loadLine()({
      ...area,
      showLegend: true,
      legend: { width: LEGEND_WIDTH },
      minY: 0,
      wholeNumbersOnly: true,
      abbreviate: true,
      xLabelPadding: 3,
      xPadding: 5,
      style: { line: COLORS[0], text: 'white', baseline: 'white' },
    });
    this.screen.append(widget);
    this.widget = widget;
  }

  get shown(): boolean {
    return this.widget !== null;
  }

  /** The busiest probes' rates, aligned on the samples of the one with the longest history. */
  update(probes: readonly ProbeRates[], now: number): void {
    const widget = this.widget;
    if (widget === null) return;
    const busiest = [...probes].sort((a, b) => b.recent - a.recent).slice(0, COLORS.length).filter((probe) => probe.rates.length >= 2);
    if (busiest.length === 0) return;
    const longest = busiest.reduce((best, probe) => (probe.times.length > best.times.length ? probe : best));
    const labels = longest.times.map((time) => `${Math.round((time - now) / 1000)}s`);
    const length = labels.length;
    const aligned = (rates: readonly number[]): number[] =>
      rates.length >= length ? rates.slice(rates.length - length) : [...new Array<number>(length - rates.length).fill(0), ...rates];
    const max = Math.max(...busiest.flatMap((probe) => probe.rates));
    // With every rate 0 the chart would divide by a zero range.
    widget.options.maxY = max > 0 ? undefined : 1;
    widget.setData(busiest.map((probe, index) => ({
      title: probe.label.slice(0, LEGEND_WIDTH - 2),
      x: labels,
      y: aligned(probe.rates),
      style: { line: COLORS[index]! },
    })));
  }
}
