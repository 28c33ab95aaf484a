/**
 * A question that needs an answer before something that cannot be undone
 * (removing someone from the meeting), or a line of text (a password). A
 * modal overlay: the page behind it cannot be clicked, so nothing moves
 * under the pointer while it is open, and a second click of a double click
 * lands on the overlay, not on the next row. Only the confirm button says yes, and only once; Cancel and
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

/** Settles a dialog: with a value, or null for Cancel and Escape. */
type Answer<T> = (value: T | null) => void;

/** What a dialog shows under its text: an optional field, its buttons, and what takes the focus. */
interface DialogParts {
  field?: HTMLElement;
  buttons: HTMLButtonElement[];
  focus?: HTMLElement;
}

/**
 * The modal both kinds of question share: Cancel and Escape answer null,
 * the first answer is the only one, and the answered dialog fades out.
 */
function modal<T>(title: string, text: string, parent: HTMLElement, parts: (answer: Answer<T>) => DialogParts): Promise<T | null> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "btn btn-ghost", id: "confirm-cancel" }, "Cancel");
    let answered = false;
    const answer: Answer<T> = (value) => {
      if (answered) return;
      answered = true;
      document.removeEventListener("keydown", onKey, true);
      resolve(value);
      // It fades out, answered: a second click on it is a no-op, and the page takes clicks again.
      for (const el of [backdrop, ...backdrop.querySelectorAll("[id]")]) el.removeAttribute("id");
      backdrop.classList.add("closing");
      setTimeout(() => backdrop.remove(), CLOSING_MS);
    };
    const { field, buttons, focus } = parts(answer);
    const dialog = h(
      "div",
      { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title", class: "dialog-title" }, title),
      h("p", { id: "confirm-text", class: "dialog-text" }, text),
      field,
      h("div", { class: "dialog-actions" }, cancel, ...buttons),
    );
    const backdrop = h("div", { class: "dialog-backdrop", id: "confirm" }, dialog);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        answer(null);
      }
    };
    cancel.addEventListener("click", () => answer(null));
    document.addEventListener("keydown", onKey, true);
    parent.append(backdrop);
    (focus ?? cancel).focus();
  });
}

/**
 * Asks `title` with `text`, offering `choices` and Cancel. Resolves to the
 * chosen value, or null for Cancel and Escape; only once.
 */
export function ask<T>(title: string, text: string, choices: Choice<T>[], parent: HTMLElement = document.body): Promise<T | null> {
  // No focus named: the safe choice (Cancel) has it, so Enter on a surprise dialog cancels.
  return modal<T>(title, text, parent, (answer) => ({
    buttons: choices.map((c) => {
      const kind = c.kind === "danger" ? "btn-danger" : c.kind === "primary" ? "btn-primary" : "btn-ghost";
      const b = h("button", { type: "button", class: `btn ${kind}`, id: c.id }, c.label);
      b.addEventListener("click", () => answer(c.value));
      return b;
    }),
  }));
}

/**
 * Asks for a line of text (a password): resolves to what was entered, or
 * null for Cancel and Escape; only once. Enter confirms; confirming needs
 * something other than spaces entered.
 */
export function askText(
  title: string,
  text: string,
  q: { label: string; confirm: string; type?: "text" | "password" },
  parent: HTMLElement = document.body,
): Promise<string | null> {
  return modal<string>(title, text, parent, (answer) => {
    const input = h("input", { id: "confirm-input", type: q.type ?? "text", autocomplete: "off", spellcheck: "false" });
    const ok = h("button", { type: "button", class: "btn btn-primary", id: "confirm-ok", disabled: true }, q.confirm);
    const entered = () => input.value.trim() !== "";
    const submit = () => {
      if (entered()) answer(input.value);
    };
    input.addEventListener("input", () => (ok.disabled = !entered()));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        submit();
      }
    });
    ok.addEventListener("click", submit);
    const field = h("div", { class: "field dialog-field" }, h("label", { for: "confirm-input" }, q.label), input);
    return { field, buttons: [ok], focus: input };
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
