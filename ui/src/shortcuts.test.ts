import { describe, expect, it } from "vitest";
import { SHORTCUTS, isTyping, shortcutAction } from "./shortcuts";

const press = (key: string, target: EventTarget | null = document.body, mods: Partial<Record<"ctrlKey" | "metaKey" | "altKey", boolean>> = {}) =>
  shortcutAction({ key, ctrlKey: false, metaKey: false, altKey: false, target, ...mods });

describe("shortcuts", () => {
  it("single keys ask for their action, in either case", () => {
    expect(press("f")).toBe("fullscreen");
    expect(press("F")).toBe("fullscreen");
    expect(press("l")).toBe("layout");
    expect(press("?")).toBe("help");
    expect(press("c")).toBe("chat");
    expect(press("p")).toBe("people");
    expect(press("x")).toBeNull();
    expect(press("Enter")).toBeNull();
  });

  it("nothing fires while typing in a text field, a text area or a list", () => {
    for (const el of [document.createElement("input"), document.createElement("textarea"), document.createElement("select")]) {
      expect(press("f", el)).toBeNull();
      expect(press("?", el)).toBeNull();
    }
    const search = document.createElement("input");
    search.type = "search";
    expect(isTyping(search)).toBe(true);
    const editable = document.createElement("div");
    editable.contentEditable = "true";
    // jsdom does not compute isContentEditable; WebKit does.
    Object.defineProperty(editable, "isContentEditable", { value: true });
    expect(press("f", editable)).toBeNull();
  });

  it("keys on buttons and radio buttons are still shortcuts", () => {
    const radio = document.createElement("input");
    radio.type = "radio";
    expect(press("f", radio)).toBe("fullscreen");
    expect(press("l", document.createElement("button"))).toBe("layout");
  });

  it("a key with Ctrl, Alt or Meta is not a single-key shortcut", () => {
    expect(press("f", document.body, { ctrlKey: true })).toBeNull();
    expect(press("l", document.body, { altKey: true })).toBeNull();
    expect(press("c", document.body, { metaKey: true })).toBeNull();
  });

  it("every key the room handles is listed once, with what it does", () => {
    const keys = SHORTCUTS.filter((s) => s.key).map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(SHORTCUTS.map((s) => s.keys)).toEqual(expect.arrayContaining(["Ctrl+D", "Ctrl+E", "?", "F", "L"]));
    for (const s of SHORTCUTS) expect(s.what.length).toBeGreaterThan(5);
  });
});
