// The report form (随手拍): where (a tap on the map, or the phone's position in WGS-84 or GCJ-02,
// located by the server), what (a category, or "not sure" so the server classifies the words),
// photos, and the answer: the case number, or the existing case the report joined.

import { ApiError, api } from '../common/api';
import { h, replace } from '../common/dom';
import { locale, t } from '../common/i18n';
import { icon } from './icons';
import { PhotoPicker } from './photos';
import { PickMap } from './pickmap';
import { categoryName, loadCategories } from './categories';
import type { CaseDto, Location } from './types';

const MAX_DESCRIPTION = 4000;

/** What the form knows about the chosen point. */
interface Point {
  /** As sent: the phone's own system, or WGS-84 for a map tap. */
  lon: number;
  lat: number;
  crs: 'wgs84' | 'gcj02';
  /** The server's answer, once it came; null outside the district. */
  located?: Location | null;
}

export interface ReportView {
  el: HTMLElement;
  /** Called when the view is shown (the map needs a visible box to size itself). */
  shown(): void;
}

/** The crs a `?crs=` parameter asks for (apps and webviews that hand out GCJ-02). */
function crsFromPage(): 'wgs84' | 'gcj02' {
  return new URLSearchParams(location.search).get('crs')?.toLowerCase() === 'gcj02' ? 'gcj02' : 'wgs84';
}

export function reportView(onFiled: (c: CaseDto) => void): ReportView {
  let point: Point | null = null;
  let locateSeq = 0;
  let started = false;

  const where = h('p', { class: 'ph-where', 'data-testid': 'report-location', 'aria-live': 'polite' }, t('report.no_point'));
  const whereError = h('p', { class: 'wx-error', role: 'alert', 'data-testid': 'report-location-error' });
  const map = new PickMap((lon, lat) => void choose({ lon, lat, crs: 'wgs84' }, null, false));

  const crsSelect = h(
    'select',
    { name: 'crs', 'data-testid': 'crs-select' },
    h('option', { value: 'wgs84' }, t('report.crs.wgs84')),
    h('option', { value: 'gcj02' }, t('report.crs.gcj02')),
  );
  crsSelect.value = crsFromPage();

  const locateButton = h('button', { type: 'button', class: 'ph-locate', 'data-testid': 'use-location' }, icon('locate'), t('report.use_location'));
  locateButton.addEventListener('click', () => {
    whereError.textContent = '';
    if (!('geolocation' in navigator)) {
      whereError.textContent = t('report.geo_unsupported');
      return;
    }
    locateButton.disabled = true;
    where.textContent = t('report.locating');
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        locateButton.disabled = false;
        const crs = crsSelect.value === 'gcj02' ? 'gcj02' : 'wgs84';
        void choose({ lon: pos.coords.longitude, lat: pos.coords.latitude, crs }, pos.coords.accuracy, true);
      },
      () => {
        locateButton.disabled = false;
        where.textContent = point ? where.textContent : t('report.no_point');
        whereError.textContent = t('report.geo_denied');
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  });

  /** Takes a point, asks the server where it is, and shows the answer (or refuses it). */
  async function choose(p: Point, accuracy: number | null, zoom: boolean): Promise<void> {
    const seq = ++locateSeq;
    point = p;
    whereError.textContent = '';
    where.textContent = t('report.checking');
    // The pin goes where the user tapped at once; a phone's GCJ-02 point waits for the server's
    // WGS-84 conversion.
    if (p.crs === 'wgs84') map.setPin([p.lon, p.lat], null, zoom);
    updateSubmit();
    try {
      const q = new URLSearchParams({ lon: String(p.lon), lat: String(p.lat), crs: p.crs });
      const loc = await api<Location>(`/api/v1/locate?${q}`);
      if (seq !== locateSeq) return;
      p.located = loc;
      map.setPin([loc.wgs84.lon, loc.wgs84.lat], loc.community?.code ?? null, zoom);
      replace(
        where,
        h('strong', {}, t('report.located', { street: loc.street?.name ?? loc.district.name, community: loc.community?.name ?? '—' })),
        loc.grid ? h('span', { class: 'wx-muted' }, ' · ', t('report.grid', { grid: loc.grid.name })) : null,
        accuracy != null ? h('span', { class: 'ph-accuracy wx-muted' }, t('report.accuracy', { m: Math.round(accuracy) })) : null,
      );
    } catch (e) {
      if (seq !== locateSeq) return;
      if (e instanceof ApiError && e.code === 'outside_district') {
        p.located = null;
        map.setPin(null, null);
        where.textContent = t('report.no_point');
        whereError.textContent = t('report.outside');
      } else {
        point = null;
        where.textContent = t('report.no_point');
        whereError.textContent = e instanceof ApiError ? e.message : t('error.network');
      }
    }
    updateSubmit();
  }

  // Category: the classes and their categories, or "not sure" (the server reads the words).
  const category = h('select', { name: 'category', 'data-testid': 'report-category' }, h('option', { value: '' }, t('report.category_unsure')));
  loadCategories()
    .then((classes) => {
      const en = locale() === 'en';
      for (const c of classes) {
        if (!c.categories.length) continue;
        category.append(
          h(
            'optgroup',
            { label: en ? c.name_en : c.name_zh },
            ...c.categories.map((x) => h('option', { value: x.code }, en ? x.name_en : x.name_zh)),
          ),
        );
      }
    })
    .catch(() => {
      /* Without the list the report goes unclassified: the server reads the words. */
    });

  const description = h('textarea', {
    name: 'description',
    rows: 4,
    maxlength: MAX_DESCRIPTION,
    required: true,
    placeholder: t('report.description_placeholder'),
    'data-testid': 'report-description',
  });
  const count = h('span', { class: 'ph-count wx-muted' }, t('report.description_count', { n: 0, max: MAX_DESCRIPTION }));
  description.addEventListener('input', () => {
    count.textContent = t('report.description_count', { n: [...description.value].length, max: MAX_DESCRIPTION });
    updateSubmit();
  });

  const contact = h('input', { name: 'contact', type: 'tel', maxlength: 64, autocomplete: 'tel', 'data-testid': 'report-contact' });
  const photos = new PhotoPicker();
  const status = h('p', { class: 'ph-status wx-muted', 'aria-live': 'polite' });
  const error = h('p', { class: 'wx-error', role: 'alert', 'data-testid': 'report-error' });
  const submit = h('button', { type: 'submit', class: 'wx-primary ph-submit', 'data-testid': 'report-submit' }, t('report.submit'));
  let busy = false;

  function updateSubmit(): void {
    submit.disabled = busy || !point?.located || !description.value.trim();
  }
  updateSubmit();

  const form = h(
    'form',
    { class: 'ph-form', 'data-testid': 'report-form', novalidate: true },
    h('h1', { class: 'ph-h1' }, t('report.heading')),
    h(
      'fieldset',
      { class: 'ph-field' },
      h('legend', {}, t('report.where')),
      map.el,
      h('div', { class: 'ph-locate-row' }, locateButton, h('label', { class: 'ph-crs' }, h('span', { class: 'wx-muted' }, t('report.crs')), crsSelect)),
      where,
      whereError,
    ),
    h('label', { class: 'ph-label' }, t('report.category'), category),
    h('label', { class: 'ph-label' }, h('span', { class: 'ph-label-row' }, t('report.description'), count), description),
    photos.el,
    h('label', { class: 'ph-label' }, t('report.contact'), contact),
    error,
    status,
    submit,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!description.value.trim()) {
      error.textContent = t('report.description_required');
      return;
    }
    if (!point?.located) {
      error.textContent = point?.located === null ? t('report.outside') : t('report.no_point');
      return;
    }
    busy = true;
    updateSubmit();
    try {
      const attachments = await photos.upload((i, n) => (status.textContent = t('report.uploading', { i, n })));
      status.textContent = t('report.submitting');
      const filed = await api<CaseDto>('/api/v1/events', {
        json: {
          channel: 'resident_app',
          location: { lon: point.lon, lat: point.lat, crs: point.crs },
          category: category.value || undefined,
          description: description.value.trim(),
          reporter_contact: contact.value.trim() || undefined,
          attachments,
        },
      });
      // Done: the form starts empty for the next report.
      description.value = '';
      count.textContent = t('report.description_count', { n: 0, max: MAX_DESCRIPTION });
      category.value = '';
      photos.clear();
      onFiled(filed);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : t('error.network');
    } finally {
      busy = false;
      status.textContent = '';
      updateSubmit();
    }
  });

  return {
    el: form,
    shown() {
      if (started) return;
      started = true;
      map.start().catch((e) => {
        whereError.textContent = e instanceof ApiError ? e.message : t('error.network');
      });
    },
  };
}

/** The answer after filing: the case number, big, and whether the report joined an existing case. */
export function filedView(c: CaseDto, onView: () => void, onAgain: () => void): HTMLElement {
  const linked = c.linked_report_id != null;
  const photos = c.attachments?.length ?? 0;
  return h(
    'section',
    { class: 'ph-done', 'data-testid': 'report-done' },
    h('div', { class: 'ph-done-mark' }, icon('check')),
    h('h1', { class: 'ph-h1' }, t('done.heading')),
    h('p', { class: 'ph-done-label' }, t('done.case_number')),
    h('p', { class: 'ph-case-number', 'data-testid': 'case-number' }, c.id),
    linked
      ? h(
          'div',
          { class: 'ph-duplicate', 'data-testid': 'report-duplicate' },
          h('p', {}, t('done.duplicate', { m: Math.round(c.duplicate_distance_m ?? 0) })),
          h('p', { class: 'wx-muted ph-small' }, t('done.your_report', { id: c.linked_report_id ?? '' })),
        )
      : null,
    h('p', { 'data-testid': 'report-category-result' }, c.category ? t('done.classified', { name: categoryName(c.category, c.category_name) ?? c.category }) : t('done.unclassified')),
    h('p', { 'data-testid': 'report-stage' }, t('done.stage', { stage: t(`stage.${c.stage}`) })),
    !linked && photos ? h('p', { 'data-testid': 'report-photos' }, t('done.photos', { n: photos })) : null,
    h(
      'div',
      { class: 'ph-done-actions' },
      h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'report-view', onclick: onView }, t('done.view')),
      h('button', { type: 'button', 'data-testid': 'report-again', onclick: onAgain }, t('done.again')),
    ),
  );
}
