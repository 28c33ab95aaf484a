// Toast notifications, rendered from `state.toasts`, each dismissed after a while;
// one about an ongoing condition (a slow link) stays until the condition ends.
// A toast from a catalog event carries `data-event` (its name) and, for `error`,
// `data-error-code`; one about a condition, `data-condition`.

import { h, svg } from "./dom";
import { icons } from "./icons";
import type { State, Toast } from "./state";

const LIFETIME_MS: Record<Toast["kind"], number> = {
  info: 4000,
  success: 4000,
  warning: 7000,
  error: 8000,
};

export class ToastView {
  readonly el: HTMLDivElement;
  private shown = new Map<number, HTMLElement>();
  private timers = new Map<number, ReturnType<typeof setTimeout>>();

  constructor(private dismiss: (id: number) => void) {
    this.el = h("div", { id: "toasts", class: "toasts", "aria-live": "polite", role: "region", "aria-label": "Notifications" });
  }

  render(state: State): void {
    const ids = new Set(state.toasts.map((t) => t.id));
    for (const [id, el] of this.shown) {
      if (!ids.has(id)) {
        el.remove();
        this.shown.delete(id);
        const timer = this.timers.get(id);
        if (timer) clearTimeout(timer);
        this.timers.delete(id);
      }
    }
    for (const t of state.toasts) {
      if (this.shown.has(t.id)) continue;
      const close = h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss", title: "Dismiss" }, svg(icons.close));
      close.addEventListener("click", () => this.dismiss(t.id));
      const el = h(
        "div",
        {
          class: `toast toast-${t.kind}`,
          role: t.kind === "error" ? "alert" : "status",
          "data-toast-id": t.id,
          // For tests: the catalog event behind it (`speaker.disconnected`, `error`, ...) and an error's code.
          "data-event": t.event,
          "data-error-code": t.code,
          "data-condition": t.condition,
        },
        h("span", { class: "toast-dot" }),
        h("span", { class: "toast-text" }, t.text),
        close,
      );
      this.el.append(el);
      this.shown.set(t.id, el);
      if (!t.condition) this.timers.set(t.id, setTimeout(() => this.dismiss(t.id), LIFETIME_MS[t.kind]));
    }
  }
}
