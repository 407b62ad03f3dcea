// The small map a resident taps to say where the problem is: our own community boundaries
// (`loadBoundaries('community')`), never internet tiles. A tap becomes a WGS-84 point through
// `convertFromPixel`; the pin is drawn as a scatter point on the same geo component.

import * as echarts from 'echarts/core';
import { ScatterChart } from 'echarts/charts';
import { GeoComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from '../common/dom';
import { t } from '../common/i18n';
import { anySynthetic, loadBoundaries } from '../common/map';

echarts.use([GeoComponent, ScatterChart, CanvasRenderer]);

export class PickMap {
  readonly el: HTMLElement;
  private box = h('div', { class: 'ph-map', 'data-testid': 'report-map' });
  private chart: echarts.ECharts | null = null;
  private synthetic = h('p', { class: 'ph-map-note wx-muted' });
  private pin: [number, number] | null = null;
  private highlight: string | null = null;

  /** `onPick` gets a tapped point, in WGS-84 (the boundaries' system). */
  constructor(private onPick: (lon: number, lat: number) => void) {
    this.el = h('div', { class: 'ph-map-wrap' }, this.box, h('p', { class: 'ph-map-note wx-muted' }, t('report.map_hint')), this.synthetic);
  }

  /** Draws the map once the element is in the page (ECharts needs its size). */
  async start(): Promise<void> {
    const { name, boundaries } = await loadBoundaries('community');
    if (anySynthetic(boundaries)) this.synthetic.textContent = t('map.synthetic');
    const chart = echarts.init(this.box, undefined, { renderer: 'canvas' });
    this.chart = chart;
    chart.setOption({
      animation: false,
      geo: {
        map: name,
        nameProperty: 'code',
        roam: true,
        // Degrees of longitude are shorter than degrees of latitude at 22.5° N.
        aspectScale: Math.cos((22.55 * Math.PI) / 180),
        left: 6,
        right: 6,
        top: 6,
        bottom: 6,
        scaleLimit: { min: 1, max: 40 },
        selectedMode: false,
        label: { show: false },
        itemStyle: { areaColor: '#e8eef6', borderColor: '#9fb3c8', borderWidth: 0.6 },
        emphasis: { disabled: true },
        tooltip: { show: false },
      },
      series: [
        {
          type: 'scatter',
          coordinateSystem: 'geo',
          symbol: 'pin',
          symbolSize: 30,
          itemStyle: { color: '#d1242f' },
          silent: true,
          data: [],
          z: 10,
        },
      ],
    });
    // A tap (not a drag: zrender only reports a click when the pointer did not move) places the pin.
    chart.getZr().on('click', (e) => {
      const p = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]) as number[] | null;
      if (p && Number.isFinite(p[0]) && Number.isFinite(p[1])) this.onPick(p[0], p[1]);
    });
    new ResizeObserver(() => chart.resize()).observe(this.box);
    this.draw();
  }

  /** Shows the pin at a WGS-84 point (or none), and outlines the community holding it. */
  setPin(point: [number, number] | null, community: string | null, zoomTo = false): void {
    this.pin = point;
    this.highlight = community;
    this.draw();
    if (zoomTo && point && this.chart) this.chart.setOption({ geo: { center: point, zoom: 4 } });
  }

  private draw(): void {
    if (!this.chart) return;
    this.chart.setOption({
      geo: {
        regions: this.highlight ? [{ name: this.highlight, itemStyle: { areaColor: '#cfe0fb', borderColor: '#1f6feb', borderWidth: 1.5 } }] : [],
      },
      series: [{ data: this.pin ? [{ value: this.pin }] : [] }],
    });
  }
}
