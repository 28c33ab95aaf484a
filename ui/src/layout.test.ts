import { describe, expect, it } from "vitest";
import { PRESENTING, arrange, layout } from "./layout";

describe("layout", () => {
  it("one tile fills the area at 16:9", () => {
    expect(layout(1, 1600, 900)).toEqual({ cols: 1, rows: 1, tileWidth: 1600, tileHeight: 900 });
    expect(layout(1, 1000, 900)).toEqual({ cols: 1, rows: 1, tileWidth: 1000, tileHeight: 562 });
  });

  it("two tiles sit side by side in a wide area and stack in a tall one", () => {
    expect(layout(2, 1600, 900)).toEqual({ cols: 2, rows: 1, tileWidth: 800, tileHeight: 450 });
    expect(layout(2, 400, 900)).toEqual({ cols: 1, rows: 2, tileWidth: 400, tileHeight: 225 });
  });

  it("three and four tiles make a 2x2 grid in a 16:9 area", () => {
    expect(layout(3, 1600, 900)).toMatchObject({ cols: 2, rows: 2, tileWidth: 800 });
    expect(layout(4, 1600, 900)).toEqual({ cols: 2, rows: 2, tileWidth: 800, tileHeight: 450 });
  });

  it("25 tiles make 5x5", () => {
    expect(layout(25, 1600, 900)).toMatchObject({ cols: 5, rows: 5, tileWidth: 320, tileHeight: 180 });
  });

  it("a very wide strip puts everything in one row", () => {
    expect(layout(4, 4000, 300)).toMatchObject({ cols: 4, rows: 1 });
  });

  it("accounts for the gap between tiles", () => {
    expect(layout(2, 1610, 900, 16 / 9, 10)).toMatchObject({ cols: 2, rows: 1, tileWidth: 800, tileHeight: 450 });
    expect(layout(4, 1610, 910, 16 / 9, 10)).toMatchObject({ cols: 2, rows: 2, tileWidth: 800, tileHeight: 450 });
  });

  it("honours another aspect ratio", () => {
    expect(layout(1, 1000, 1000, 1)).toEqual({ cols: 1, rows: 1, tileWidth: 1000, tileHeight: 1000 });
    expect(layout(2, 1000, 1000, 4 / 3)).toMatchObject({ cols: 1, rows: 2, tileWidth: 666 });
  });

  it("returns zeros for nothing to lay out", () => {
    expect(layout(0, 1600, 900)).toEqual({ cols: 0, rows: 0, tileWidth: 0, tileHeight: 0 });
    expect(layout(3, 0, 900)).toEqual({ cols: 0, rows: 0, tileWidth: 0, tileHeight: 0 });
  });

  it("for 1 to 25 tiles always fits, has no empty row, and is the largest arrangement", () => {
    const areas: Array<[number, number]> = [
      [1280, 720],
      [1920, 1000],
      [800, 1200],
      [500, 300],
      [1000, 1000],
    ];
    const gap = 8;
    for (const [w, h] of areas) {
      for (let n = 1; n <= 25; n++) {
        const l = layout(n, w, h, 16 / 9, gap);
        expect(l.cols * l.rows).toBeGreaterThanOrEqual(n);
        expect((l.rows - 1) * l.cols).toBeLessThan(n);
        expect(l.cols * l.tileWidth + (l.cols - 1) * gap).toBeLessThanOrEqual(w);
        expect(l.rows * l.tileHeight + (l.rows - 1) * gap).toBeLessThanOrEqual(h);
        expect(l.tileWidth).toBeGreaterThan(0);
        expect(Math.abs(l.tileHeight - l.tileWidth / (16 / 9))).toBeLessThanOrEqual(1);
        for (let cols = 1; cols <= n; cols++) {
          const rows = Math.ceil(n / cols);
          const tw = Math.floor(Math.min((w - gap * (cols - 1)) / cols, ((h - gap * (rows - 1)) / rows) * (16 / 9)));
          expect(tw).toBeLessThanOrEqual(l.tileWidth);
        }
      }
    }
  });
});

describe("arrange", () => {
  const base = {
    view: "grid" as const,
    cameras: ["self:camera", "m2:camera", "m3:camera"],
    screen: null,
    presenting: false,
    pinned: null,
    speaker: null,
  };

  it("grid view with nothing pinned or shared is equal tiles, mine first", () => {
    expect(arrange(base)).toEqual({ kind: "grid", tiles: ["self:camera", "m2:camera", "m3:camera"] });
  });

  it("speaker view shows the active speaker big and the others in the strip", () => {
    expect(arrange({ ...base, view: "speaker", speaker: "m3:camera" })).toEqual({
      kind: "focus",
      main: "m3:camera",
      strip: ["self:camera", "m2:camera"],
    });
  });

  it("speaker view before anyone talked shows the first other member; alone, me", () => {
    expect(arrange({ ...base, view: "speaker" })).toMatchObject({ main: "m2:camera" });
    expect(arrange({ ...base, view: "speaker", speaker: "m9:camera" })).toMatchObject({ main: "m2:camera" });
    expect(arrange({ ...base, view: "speaker", cameras: ["self:camera"] })).toEqual({ kind: "focus", main: "self:camera", strip: [] });
  });

  it("a pinned tile takes the big area in either view, over a talker and a screen", () => {
    expect(arrange({ ...base, pinned: "m2:camera" })).toEqual({ kind: "focus", main: "m2:camera", strip: ["self:camera", "m3:camera"] });
    expect(arrange({ ...base, view: "speaker", speaker: "m3:camera", pinned: "self:camera" })).toMatchObject({ main: "self:camera" });
    expect(arrange({ ...base, screen: "m3:screen", pinned: "m2:camera" })).toEqual({
      kind: "focus",
      main: "m2:camera",
      strip: ["m3:screen", "self:camera", "m3:camera"],
    });
  });

  it("a pin on a tile that is gone is ignored", () => {
    expect(arrange({ ...base, pinned: "m7:camera" })).toEqual({ kind: "grid", tiles: base.cameras });
  });

  it("a shared screen takes the stage in both views; my own share shows the presenting card", () => {
    for (const view of ["grid", "speaker"] as const) {
      expect(arrange({ ...base, view, screen: "m2:screen", speaker: "m3:camera" })).toEqual({
        kind: "focus",
        main: "m2:screen",
        strip: base.cameras,
      });
      expect(arrange({ ...base, view, presenting: true })).toEqual({ kind: "focus", main: PRESENTING, strip: base.cameras });
    }
  });
});
