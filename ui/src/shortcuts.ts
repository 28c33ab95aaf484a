// The call's keyboard shortcuts: one table for the handler and the help on `?`.
// Ctrl+D / Ctrl+E (and Escape) are handled by the app controller, in the lobby too;
// they are listed here so the help names every key.

export type RoomAction = "help" | "fullscreen" | "layout" | "chat" | "people" | "stats";

export interface Shortcut {
  /** The keys as the help shows them. */
  keys: string;
  what: string;
  /** For the single-key shortcuts the room handles: the key and what it does. */
  key?: string;
  action?: RoomAction;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: "Ctrl+D", what: "Turn the microphone on or off" },
  { keys: "Ctrl+E", what: "Turn the camera on or off" },
  { keys: "L", what: "Switch between speaker view and grid view", key: "l", action: "layout" },
  { keys: "F", what: "Fullscreen on or off", key: "f", action: "fullscreen" },
  { keys: "C", what: "Open or close the chat", key: "c", action: "chat" },
  { keys: "P", what: "Open or close the list of people", key: "p", action: "people" },
  { keys: "S", what: "Show or hide the call statistics", key: "s", action: "stats" },
  { keys: "Double-click a tile", what: "Pin it to the big area; again to unpin" },
  { keys: "?", what: "Show these shortcuts", key: "?", action: "help" },
  { keys: "Esc", what: "Close a menu, a panel or this help" },
];

/** Input types that take no text: keys pressed on them may be shortcuts. */
const NOT_TEXT = new Set(["button", "checkbox", "radio", "range", "color", "file", "submit", "reset", "image"]);

/** Whether keys pressed on `target` are typing (a text field, a list, an editable element). */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== "string") return false;
  const tag = el.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select") return true;
  if (tag === "input") return !NOT_TEXT.has(((el as HTMLInputElement).type || "text").toLowerCase());
  return !!el.isContentEditable;
}

export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  target: EventTarget | null;
}

/** The room action a key press asks for, if any: single keys only, never while typing. */
export function shortcutAction(e: KeyPress): RoomAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return null;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  return SHORTCUTS.find((s) => s.key === key)?.action ?? null;
}
