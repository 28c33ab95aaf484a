// The connection-quality indicator: signal bars for a member's `member.quality`
// (3 excellent, 2 good, 1 poor, crossed out when lost), on each tile and, for
// my own connection, in the top bar. It carries `data-quality` (for the colours
// and for tests) and says "Connection: good" to screen readers and as its
// tooltip; it shows nothing before a quality is known.

import { h, svg, toggleAttr } from "./dom";
import type { ConnectionQuality } from "./generated/ConnectionQuality";
import { icons } from "./icons";

const QUALITY_ICON: Record<ConnectionQuality, string> = {
  excellent: icons.signal3,
  good: icons.signal2,
  poor: icons.signal1,
  lost: icons.signalLost,
};

export function qualityLabel(quality: ConnectionQuality): string {
  return `Connection: ${quality}`;
}

export class QualityIndicator {
  readonly el: HTMLSpanElement;
  private shown: ConnectionQuality | null = null;

  constructor(attrs: { class: string; id?: string }) {
    this.el = h("span", { ...attrs, class: `quality ${attrs.class}`, role: "img", hidden: true });
  }

  /** Shows `quality`; null (or a quality this UI does not know) shows nothing. */
  set(quality: ConnectionQuality | null | undefined): void {
    const q = quality && Object.keys(QUALITY_ICON).includes(quality) ? quality : null;
    if (q === this.shown) return;
    this.shown = q;
    this.el.hidden = q === null;
    toggleAttr(this.el, "data-quality", q);
    const label = q && qualityLabel(q);
    toggleAttr(this.el, "aria-label", label);
    toggleAttr(this.el, "title", label);
    this.el.replaceChildren(...(q ? [svg(QUALITY_ICON[q])] : []));
  }
}
