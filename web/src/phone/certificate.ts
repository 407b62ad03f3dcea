// A certificate (电子证照) as its holder sees it: its name, whether it is valid, and the two
// pages the server makes of it — the printable one (print it, or save it as PDF) and the public
// check the QR code opens.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { icon } from './icons';
import { errorText, sameOrigin } from './svcdata';
import type { CertificateDto } from './types';

export function certificateCard(id: string): HTMLElement {
  const el = h('div', { class: 'ph-cert', 'data-testid': 'svc-cert', 'data-cert-id': id }, h('p', { class: 'wx-muted' }, t('mine.loading')));
  void api<CertificateDto>(`/api/v1/services/certificates/${encodeURIComponent(id)}`)
    .then((c) => {
      const row = (label: string, value: string) => h('div', { class: 'ph-row' }, h('dt', {}, label), h('dd', {}, value));
      el.dataset.validity = c.validity;
      replace(
        el,
        h(
          'div',
          { class: 'ph-cert-top' },
          h('span', { class: 'ph-cert-name', 'data-testid': 'svc-cert-name' }, c.name),
          h('span', { class: `ph-stage ph-cert-${c.validity}`, 'data-testid': 'svc-cert-validity', 'data-validity': c.validity }, t(`svc.cert.validity.${c.validity}`)),
        ),
        h(
          'dl',
          { class: 'ph-dl' },
          row(t('svc.cert.holder'), c.holder_name),
          row(t('svc.cert.issued'), formatTime(c.issued_at)),
          row(t('svc.cert.expires'), c.expires_on ?? t('svc.cert.no_end')),
          c.revoked_reason ? row(t('svc.cert.revoked'), c.revoked_reason) : null,
          h('div', { class: 'ph-row' }, h('dt', {}, t('svc.cert.number')), h('dd', { class: 'ph-svc-id' }, c.id)),
        ),
        h(
          'div',
          { class: 'ph-cert-links' },
          h('a', { href: sameOrigin(c.print_url), target: '_blank', rel: 'noopener', class: 'ph-button', 'data-testid': 'svc-cert-print' }, t('svc.cert.print')),
          h('a', { href: sameOrigin(c.verify_url), target: '_blank', rel: 'noopener', class: 'ph-button', 'data-testid': 'svc-cert-verify' }, icon('check'), t('svc.cert.verify')),
        ),
      );
    })
    .catch((e: unknown) => replace(el, h('p', { class: 'wx-error', role: 'alert' }, errorText(e))));
  return el;
}
