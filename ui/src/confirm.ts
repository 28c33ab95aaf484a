/**
 * A question that needs an answer before something that cannot be undone
 * (removing someone from the meeting). A modal overlay: the page behind it
 * cannot be clicked, so nothing moves under the pointer while it is open,
 * and a second click of a double click lands on the overlay, not on the
 * next row. Only the confirm button says yes, and only once; Cancel and
 * Escape say no; the answer is taken once, so the second half of a double
 * click answers nothing. A click on the backdrop does nothing. An answered
 * dialog fades out without taking clicks.
 */
import { h } from "./dom";

/** How long an answered dialog takes to fade out. */
const CLOSING_MS = 300;

export interface Choice<T> {
  label: string;
  value: T;
  /** How the button looks: the safe choice is plain; a destructive one is red. */
  kind?: "primary" | "danger" | "plain";
  /** Its id, for tests and shortcuts. */
  id?: string;
}

/**
 * Asks `title` with `text`, offering `choices` and Cancel. Resolves to the
 * chosen value, or null for Cancel and Escape; only once.
 */
export function ask<T>(title: string, text: string, choices: Choice<T>[], parent: HTMLElement = document.body): Promise<T | null> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "btn btn-ghost", id: "confirm-cancel" }, "Cancel");
    const buttons = choices.map((c) => {
      const kind = c.kind === "danger" ? "btn-danger" : c.kind === "primary" ? "btn-primary" : "btn-ghost";
      const b = h("button", { type: "button", class: `btn ${kind}`, id: c.id ?? "" }, c.label);
      if (!c.id) b.removeAttribute("id");
      b.addEventListener("click", () => answer(c.value));
      return b;
    });
    const dialog = h(
      "div",
      { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title", class: "dialog-title" }, title),
      h("p", { id: "confirm-text", class: "dialog-text" }, text),
      h("div", { class: "dialog-actions" }, cancel, ...buttons),
    );
    const backdrop = h("div", { class: "dialog-backdrop", id: "confirm" }, dialog);
    let answered = false;
    const answer = (value: T | null) => {
      if (answered) return;
      answered = true;
      document.removeEventListener("keydown", onKey, true);
      resolve(value);
      // It fades out, answered: a second click on it is a no-op, and the page takes clicks again.
      for (const el of [backdrop, cancel, ...buttons]) el.removeAttribute("id");
      backdrop.classList.add("closing");
      setTimeout(() => backdrop.remove(), CLOSING_MS);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        answer(null);
      }
    };
    cancel.addEventListener("click", () => answer(null));
    document.addEventListener("keydown", onKey, true);
    parent.append(backdrop);
    // The safe choice has the focus: Enter on a surprise dialog cancels.
    cancel.focus();
  });
}

/** A yes/no question: true only for the confirming button. */
export async function confirmDialog(
  q: { title: string; text: string; confirm: string; danger?: boolean },
  parent: HTMLElement = document.body,
): Promise<boolean> {
  const kind = q.danger ? "danger" : "primary";
  return (await ask(q.title, q.text, [{ label: q.confirm, value: true, kind, id: "confirm-ok" }], parent)) === true;
}
