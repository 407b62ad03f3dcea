// What every console screen gives the shell: its element, and what to do when the live stream
// reports a change.

import type { AlarmChange, CaseChange } from '../common/stream';

export interface View {
  el: HTMLElement;
  /** A case in the jurisdiction changed. */
  onCase?: (c: CaseChange) => void;
  /** A sensor alarm changed. */
  onAlarm?: (a: AlarmChange) => void;
  /** Reload everything (the stream lagged or reconnected). */
  reload?: () => void;
  /** The screen is left. */
  dispose?: () => void;
}
