// Photos of the scene. The API takes each file first (`POST /api/v1/attachments`, the raw bytes
// with their Content-Type, checked against the file's own signature, at most
// `events.max_attachment_mb`), and the report then names the returned ids. The page checks count,
// size and type before anything is sent, so a resident hears at once what will not go.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { t } from '../common/i18n';
import { icon } from './icons';
import type { AttachmentDto } from './types';

/** The server's defaults (`events.max_attachments`, `events.max_attachment_mb`); the API does not publish them. */
export const MAX_PHOTOS = 9;
export const MAX_MB = 10;
const MAX_BYTES = MAX_MB << 20;

/** What the server accepts as images, recognised by their first bytes as it does. */
async function sniff(file: File): Promise<string | null> {
  const b = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const at = (i: number, s: string) => [...s].every((c, k) => b[i + k] === c.charCodeAt(0));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && at(1, 'PNG\r\n\x1a\n')) return 'image/png';
  if (at(0, 'GIF87a') || at(0, 'GIF89a')) return 'image/gif';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'image/webp';
  if (at(4, 'ftyp') && ['heic', 'heix', 'mif1', 'msf1', 'hevc'].some((x) => at(8, x))) return 'image/heic';
  return null;
}

interface Picked { file: File; type: string; url: string }

/** The photo picker: a file input (camera on phones), previews with remove buttons, and messages. */
export class PhotoPicker {
  readonly el: HTMLElement;
  private picked: Picked[] = [];
  private list = h('div', { class: 'ph-photos', 'data-testid': 'photo-previews' });
  private note = h('p', { class: 'wx-error', role: 'alert', 'data-testid': 'photo-error' });
  private input = h('input', {
    type: 'file',
    accept: 'image/jpeg,image/png,image/gif,image/webp,image/heic,image/*',
    multiple: true,
    class: 'ph-file',
    'data-testid': 'photo-input',
  });

  constructor() {
    const add = h('label', { class: 'ph-add-photo' }, icon('camera'), t('report.add_photo'), this.input);
    this.input.addEventListener('change', () => {
      const files = [...(this.input.files ?? [])];
      this.input.value = '';
      void this.add(files);
    });
    this.el = h(
      'fieldset',
      { class: 'ph-field' },
      h('legend', {}, t('report.photos')),
      h('p', { class: 'ph-hint wx-muted' }, t('report.photos_hint', { max: MAX_PHOTOS, mb: MAX_MB })),
      this.list,
      add,
      this.note,
    );
    this.draw();
  }

  /** Checks and adds files, saying which were refused and why. */
  async add(files: File[]): Promise<void> {
    const problems: string[] = [];
    for (const file of files) {
      if (this.picked.length >= MAX_PHOTOS) {
        problems.push(t('report.photo_too_many', { max: MAX_PHOTOS }));
        break;
      }
      if (file.size > MAX_BYTES) {
        problems.push(t('report.photo_too_large', { name: file.name, mb: MAX_MB }));
        continue;
      }
      const type = await sniff(file);
      if (!type || file.size === 0) {
        problems.push(t('report.photo_bad_type', { name: file.name }));
        continue;
      }
      this.picked.push({ file, type, url: URL.createObjectURL(file) });
    }
    this.note.textContent = problems.join('；');
    this.draw();
  }

  private draw(): void {
    replace(
      this.list,
      ...this.picked.map((p, i) =>
        h(
          'figure',
          { class: 'ph-photo' },
          h('img', { src: p.url, alt: p.file.name }),
          h(
            'button',
            {
              type: 'button',
              class: 'ph-remove',
              'aria-label': t('report.remove_photo'),
              'data-testid': 'photo-remove',
              onclick: () => {
                URL.revokeObjectURL(p.url);
                this.picked.splice(i, 1);
                this.note.textContent = '';
                this.draw();
              },
            },
            '×',
          ),
        ),
      ),
    );
    this.input.disabled = this.picked.length >= MAX_PHOTOS;
  }

  get count(): number {
    return this.picked.length;
  }

  /** Uploads every picked photo in order; resolves to their ids. */
  async upload(progress: (i: number, n: number) => void): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, p] of this.picked.entries()) {
      progress(i + 1, this.picked.length);
      ids.push((await uploadFile(p.file, p.type)).id);
    }
    return ids;
  }

  clear(): void {
    for (const p of this.picked) URL.revokeObjectURL(p.url);
    this.picked = [];
    this.note.textContent = '';
    this.draw();
  }
}

/**
 * `POST /api/v1/attachments` with the raw bytes, declared as the type their signature showed (a
 * phone may give a photo no type, or a wrong one).
 */
function uploadFile(file: File, type: string): Promise<AttachmentDto> {
  const blob = file.type === type ? file : file.slice(0, file.size, type);
  return api<AttachmentDto>(`/api/v1/attachments?name=${encodeURIComponent(file.name)}`, { blob });
}
