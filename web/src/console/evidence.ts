// The sensor alarm evidence on a case page: each alarm's readings from an hour before it was
// raised to an hour after, as a small line chart (ECharts, only the parts it needs).

import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import type { AlarmEvidence } from './types';

echarts.use([LineChart, GridComponent, MarkLineComponent, TooltipComponent, CanvasRenderer]);

const LEVEL_COLOURS: Record<string, string> = { red: '#d1242f', orange: '#e8710a', yellow: '#bf8700', blue: '#1f6feb' };

/** The evidence section; charts are drawn once the element is in the page. */
export function evidenceSection(list: AlarmEvidence[]): { el: HTMLElement; draw: () => void; dispose: () => void } {
  const charts: echarts.ECharts[] = [];
  const items = list.map((ev) => {
    const a = ev.alarm;
    const chartBox = h('div', { class: 'cx-chart', 'data-testid': 'evidence-chart' });
    const head = h(
      'p',
      { class: 'cx-evidence-head' },
      h('span', { class: `cx-level cx-level-${a.level}` }, t(`level.${a.level}`)),
      ` ${a.title} · ${a.device_name} · `,
      t('console.evidence.value', { value: a.value, unit: ev.unit ?? '' }),
      ` · ${t('console.evidence.raised')} ${formatTime(a.raised_at)} · ${t(`console.alarm_status.${a.status}`)}`,
    );
    return { ev, el: h('div', { class: 'cx-evidence', 'data-testid': 'evidence-item' }, head, ev.readings.length ? chartBox : h('p', { class: 'wx-muted' }, t('console.evidence.no_readings'))), chartBox };
  });
  const el = h('section', { class: 'cx-card', 'data-testid': 'case-evidence' }, h('h3', {}, t('console.case.evidence')), ...items.map((i) => i.el));
  const onResize = () => charts.forEach((c) => c.resize());
  return {
    el,
    draw: () => {
      for (const { ev, chartBox } of items) {
        if (!ev.readings.length) continue;
        const chart = echarts.init(chartBox, undefined, { renderer: 'canvas' });
        charts.push(chart);
        const colour = LEVEL_COLOURS[ev.alarm.level] ?? '#1f6feb';
        chart.setOption({
          animation: false,
          grid: { left: 44, right: 16, top: 16, bottom: 28 },
          tooltip: { trigger: 'axis' },
          xAxis: { type: 'time', axisLabel: { formatter: (v: number) => formatTime(new Date(v).toISOString(), false).slice(0, 5) } },
          yAxis: { type: 'value', name: ev.unit ?? '', scale: true },
          series: [
            {
              type: 'line',
              name: ev.key ?? '',
              showSymbol: false,
              lineStyle: { color: colour, width: 2 },
              itemStyle: { color: colour },
              data: ev.readings.map((r) => [Date.parse(r.at), r.value]),
              markLine: {
                symbol: 'none',
                label: { formatter: t('console.evidence.raised') },
                lineStyle: { color: colour, type: 'dashed' },
                data: [{ xAxis: Date.parse(ev.alarm.raised_at) }],
              },
            },
          ],
        });
      }
      window.addEventListener('resize', onResize);
    },
    dispose: () => {
      window.removeEventListener('resize', onResize);
      charts.forEach((c) => c.dispose());
    },
  };
}
