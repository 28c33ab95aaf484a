import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Tooltips } from "./tooltip";

describe("tooltips", () => {
  let tips: Tooltips;
  beforeEach(() => {
    vi.useFakeTimers();
    document.body.replaceChildren();
    tips = new Tooltips();
  });
  afterEach(() => {
    tips.stop();
    vi.useRealTimers();
  });

  // The observer runs in a microtask, before any pointer event can come.
  const settle = () => vi.advanceTimersByTimeAsync(10);
  const hover = (el: Element) => el.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
  // jsdom lays nothing out: give the element a box, as a browser would.
  const button = (title: string) => {
    const b = document.createElement("button");
    b.getClientRects = () => [{ x: 0, y: 0, width: 10, height: 10 }] as unknown as DOMRectList;
    b.title = title;
    return b;
  };

  it("takes every title away from WebKit at once, and shows it after a rest", async () => {
    const b = button("Pin to the big area");
    document.body.append(b);
    await settle();
    expect(b.hasAttribute("title")).toBe(false);
    hover(b);
    expect(tips.shown).toBe(false);
    vi.advanceTimersByTime(600);
    expect(document.querySelector("#tooltip")?.textContent).toBe("Pin to the big area");
  });

  it("goes when its element leaves the page", async () => {
    const b = button("Leave");
    document.body.append(b);
    await settle();
    hover(b);
    vi.advanceTimersByTime(600);
    expect(tips.shown).toBe(true);
    b.remove();
    vi.advanceTimersByTime(300);
    expect(document.querySelector("#tooltip")).toBeNull();
  });

  it("goes on a click and when the pointer moves off", async () => {
    const b = button("Chat");
    const other = document.createElement("div");
    document.body.append(b, other);
    await settle();
    hover(b);
    vi.advanceTimersByTime(600);
    b.dispatchEvent(new MouseEvent("mousedown", { bubbles: true }));
    expect(tips.shown).toBe(false);
    expect(b.hasAttribute("title")).toBe(false);
    hover(other);
    hover(b);
    vi.advanceTimersByTime(600);
    b.dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: other }));
    expect(tips.shown).toBe(false);
  });

  it("follows a title set again while shown", async () => {
    const b = button("Turn off microphone");
    document.body.append(b);
    await settle();
    hover(b);
    vi.advanceTimersByTime(600);
    b.title = "Turn on microphone";
    await settle();
    expect(document.querySelector("#tooltip")?.textContent).toBe("Turn on microphone");
    expect(b.hasAttribute("title")).toBe(false);
  });
});
