/**
 * A question that needs an answer before something that cannot be undone
 * (removing someone from the meeting). A modal overlay: the page behind it
 * cannot be clicked, so nothing moves under the pointer while it is open,
 * and a second click of a double click lands on the overlay, not on the
 * next row. Only the confirm button says yes, and only once; Cancel and
 * Escape say no. A click on the backdrop does nothing, and an answered
 * dialog stays a moment to catch clicks, so the second half of a double
 * click neither answers twice nor reaches what was behind the dialog.
 */
import { h } from "./dom";

/** How long an answered dialog keeps catching clicks. */
const CLOSING_MS = 300;

export interface Question {
  title: string;
  text: string;
  /** The confirm button's label, e.g. "Remove". */
  confirm: string;
  danger?: boolean;
}

export function confirmDialog(q: Question, parent: HTMLElement = document.body): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "btn btn-ghost", id: "confirm-cancel" }, "Cancel");
    const ok = h("button", { type: "button", class: `btn ${q.danger ? "btn-danger" : "btn-primary"}`, id: "confirm-ok" }, q.confirm);
    const dialog = h(
      "div",
      { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title", class: "dialog-title" }, q.title),
      h("p", { id: "confirm-text", class: "dialog-text" }, q.text),
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    const backdrop = h("div", { class: "dialog-backdrop", id: "confirm" }, dialog);
    let answered = false;
    const answer = (yes: boolean) => {
      if (answered) return;
      answered = true;
      document.removeEventListener("keydown", onKey, true);
      resolve(yes);
      // The overlay stays a moment, answered, to absorb the rest of a double click.
      for (const el of [backdrop, ok, cancel]) el.removeAttribute("id");
      backdrop.classList.add("closing");
      setTimeout(() => backdrop.remove(), CLOSING_MS);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        answer(false);
      }
    };
    cancel.addEventListener("click", () => answer(false));
    ok.addEventListener("click", () => answer(true));
    document.addEventListener("keydown", onKey, true);
    parent.append(backdrop);
    // The safe choice has the focus: Enter on a surprise dialog cancels.
    cancel.focus();
  });
}
