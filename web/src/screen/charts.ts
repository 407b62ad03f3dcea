// ECharts, tree-shaken: only the charts and components the one screen draws are registered, so the
// screen's bundle does not carry the whole library.

import * as echarts from 'echarts/core';
import { BarChart, EffectScatterChart, HeatmapChart, LineChart, LinesChart, ScatterChart } from 'echarts/charts';
import {
  GeoComponent,
  GridComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type {
  BarSeriesOption,
  EffectScatterSeriesOption,
  HeatmapSeriesOption,
  LineSeriesOption,
  LinesSeriesOption,
  ScatterSeriesOption,
} from 'echarts/charts';
import type {
  GeoComponentOption,
  GridComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components';

echarts.use([
  BarChart,
  EffectScatterChart,
  HeatmapChart,
  LineChart,
  LinesChart,
  ScatterChart,
  GeoComponent,
  GridComponent,
  TooltipComponent,
  VisualMapContinuousComponent,
  CanvasRenderer,
]);

export type ScreenOption = ComposeOption<
  | BarSeriesOption
  | EffectScatterSeriesOption
  | HeatmapSeriesOption
  | LineSeriesOption
  | LinesSeriesOption
  | ScatterSeriesOption
  | GeoComponentOption
  | GridComponentOption
  | TooltipComponentOption
  | VisualMapComponentOption
>;

export { echarts };

/** Creates a chart in `el` that follows the element's size (the screen scales with the window). */
export function chartIn(el: HTMLElement): echarts.ECharts {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  new ResizeObserver(() => chart.resize()).observe(el);
  return chart;
}

/** Text colours of the dark theme, shared by every chart. */
export const ink = {
  text: '#cfe3ff',
  muted: '#7f9bbf',
  line: 'rgba(90, 150, 220, 0.25)',
  accent: '#3fa7ff',
};

/** Font size in CSS pixels that follows the window like the page's own text does. */
export function fontPx(base = 14): number {
  const scale = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
  return Math.max(11, Math.round(base * Math.max(scale, 0.72)));
}
