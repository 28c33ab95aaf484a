// Tooltips drawn by the page instead of WebKitGTK's native ones, which stay
// on screen after their element is gone (a closed popover, a tile that left)
// until the pointer moves again. Elements keep using `title`; as soon as one
// is set, it moves to `data-tip`, before WebKit can hover it, and our own
// tooltip shows that text. It goes when the pointer leaves, on a click or a
// key, and whenever its element leaves the page or is hidden.

import { h } from "./dom";

/** How long the pointer rests before the tooltip shows. */
const SHOW_AFTER_MS = 500;
/** How often a shown tooltip checks that its element is still there. */
const CHECK_MS = 200;

/** Moves `el`'s title to `data-tip`, so that WebKit has no tooltip of its own to show. */
function takeTitle(el: Element): void {
  const title = el.getAttribute("title");
  if (title === null) return;
  (el as HTMLElement).dataset.tip = title;
  el.removeAttribute("title");
}

export class Tooltips {
  private tip = h("div", { class: "tooltip", role: "tooltip", id: "tooltip" });
  private target: HTMLElement | null = null;
  private showTimer: ReturnType<typeof setTimeout> | null = null;
  private checkTimer: ReturnType<typeof setInterval> | null = null;
  private observer: MutationObserver;
  private listening = new AbortController();

  constructor(private root: Document = document) {
    for (const el of root.querySelectorAll("[title]")) takeTitle(el);
    this.observer = new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === "attributes") takeTitle(r.target as Element);
        for (const node of r.addedNodes) {
          if (!(node instanceof Element)) continue;
          takeTitle(node);
          for (const el of node.querySelectorAll("[title]")) takeTitle(el);
        }
      }
      // Only when it changed: setting the text is itself a mutation this observer sees.
      const text = this.target?.dataset.tip;
      if (this.shown && text !== undefined && this.tip.textContent !== text) this.tip.textContent = text;
    });
    this.observer.observe(root.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["title"] });
    const opts = { capture: true, signal: this.listening.signal };
    root.addEventListener("mouseover", (e) => this.over(e), opts);
    root.addEventListener("mouseout", (e) => this.out(e), opts);
    for (const type of ["mousedown", "keydown", "wheel"]) root.addEventListener(type, () => this.hide(), opts);
    root.defaultView?.addEventListener("blur", () => this.hide(), opts);
  }

  get shown(): boolean {
    return this.tip.isConnected;
  }

  private over(e: Event): void {
    const el = (e.target as Element | null)?.closest?.<HTMLElement>("[data-tip]") ?? null;
    if (el === this.target) return;
    this.hide();
    if (!el) return;
    this.target = el;
    this.showTimer = setTimeout(() => this.show(), SHOW_AFTER_MS);
  }

  private out(e: Event): void {
    if (!this.target) return;
    const to = (e as MouseEvent).relatedTarget as Node | null;
    if (to && this.target.contains(to)) return;
    this.hide();
  }

  private show(): void {
    const el = this.target;
    if (!el || !el.isConnected || !el.dataset.tip) return this.hide();
    this.tip.textContent = el.dataset.tip;
    this.root.body.append(this.tip);
    const r = el.getBoundingClientRect();
    const t = this.tip.getBoundingClientRect();
    const vw = this.root.documentElement.clientWidth;
    const vh = this.root.documentElement.clientHeight;
    // Below the element, or above it when there is no room; always inside the window.
    let top = r.bottom + 8;
    if (top + t.height > vh - 4) top = r.top - t.height - 8;
    const left = Math.max(4, Math.min(vw - t.width - 4, r.left + r.width / 2 - t.width / 2));
    this.tip.style.left = `${Math.round(left)}px`;
    this.tip.style.top = `${Math.round(Math.max(4, top))}px`;
    this.checkTimer = setInterval(() => this.check(), CHECK_MS);
  }

  /** The element is gone or hidden: so is its tooltip. */
  private check(): void {
    const el = this.target;
    if (!el || !el.isConnected || el.getClientRects().length === 0) this.hide();
  }

  hide(): void {
    if (this.showTimer) clearTimeout(this.showTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.showTimer = this.checkTimer = null;
    this.target = null;
    this.tip.remove();
  }

  stop(): void {
    this.hide();
    this.observer.disconnect();
    this.listening.abort();
  }
}
