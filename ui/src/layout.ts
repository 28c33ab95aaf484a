// Grid layout for video tiles: pick the arrangement that makes tiles largest.

export interface Layout {
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
}

/**
 * Arranges `count` tiles of aspect ratio `aspect` (width / height) in a
 * `width` x `height` area, `gap` pixels apart, choosing the number of columns
 * that maximises the tile size. Sizes are whole pixels. Ties go to the layout
 * with fewer empty cells, then to the one whose shape is closest to the
 * area's, then to more columns in a landscape area (two tiles side by side in
 * a wide window, stacked in a tall one).
 */
export function layout(
  count: number,
  width: number,
  height: number,
  aspect = 16 / 9,
  gap = 0,
): Layout {
  if (count <= 0 || width <= 0 || height <= 0 || !(aspect > 0)) {
    return { cols: 0, rows: 0, tileWidth: 0, tileHeight: 0 };
  }
  let best: Layout = { cols: 1, rows: count, tileWidth: 0, tileHeight: 0 };
  let bestEmpty = Infinity;
  let bestShape = Infinity;
  // How far the block of tiles is from the area's own shape (0 = same shape).
  const shape = (cols: number, rows: number) => Math.abs(Math.log((cols * aspect) / rows / (width / height)));
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    // Skip arrangements with an entirely empty last row.
    if ((rows - 1) * cols >= count) continue;
    const cellW = (width - gap * (cols - 1)) / cols;
    const cellH = (height - gap * (rows - 1)) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    let tileW = Math.min(cellW, cellH * aspect);
    let tileH = tileW / aspect;
    tileW = Math.floor(tileW);
    tileH = Math.floor(tileH);
    const empty = rows * cols - count;
    const sh = shape(cols, rows);
    if (
      tileW > best.tileWidth ||
      (tileW === best.tileWidth &&
        (empty < bestEmpty ||
          (empty === bestEmpty &&
            (sh < bestShape - 1e-9 || (Math.abs(sh - bestShape) <= 1e-9 && width >= height)))))
    ) {
      best = { cols, rows, tileWidth: tileW, tileHeight: tileH };
      bestEmpty = empty;
      bestShape = sh;
    }
  }
  return best;
}

// ---- grid view and speaker view ------------------------------------------------

/** Grid view: equal tiles. Speaker view: one big tile and a strip of the others. */
export type ViewMode = "grid" | "speaker";

/** What `arrange` puts in the big area when I present my own screen: a card, not a tile. */
export const PRESENTING = "presenting";

export interface ArrangeInput {
  view: ViewMode;
  /** Camera tile keys in order, my own first. */
  cameras: readonly string[];
  /** The key of the shared screen on the stage, if anyone else shares. */
  screen: string | null;
  /** I share my own screen. */
  presenting: boolean;
  /** The pinned tile's key, if any (ignored when that tile is gone). */
  pinned: string | null;
  /** The camera tile of the member who talked last (never mine). */
  speaker: string | null;
}

export type Arrangement =
  | { kind: "grid"; tiles: string[] }
  /** `main` is a tile key or `PRESENTING`; `strip` holds every other tile. */
  | { kind: "focus"; main: string; strip: string[] };

/**
 * Which tile goes where. The big area shows, in this order: the pinned tile,
 * a shared screen, my own presenting card; in speaker view, else the active
 * speaker, else the first other member, else me. Grid view without any of
 * the first three is equal tiles.
 */
export function arrange(a: ArrangeInput): Arrangement {
  const tiles = a.screen ? [a.screen, ...a.cameras] : [...a.cameras];
  const pinned = a.pinned !== null && tiles.includes(a.pinned) ? a.pinned : null;
  let main = pinned ?? a.screen ?? (a.presenting ? PRESENTING : null);
  if (main === null && a.view === "speaker" && a.cameras.length) {
    const speaker = a.speaker !== null && a.cameras.includes(a.speaker) ? a.speaker : null;
    main = speaker ?? a.cameras[1] ?? a.cameras[0];
  }
  if (main === null) return { kind: "grid", tiles: [...a.cameras] };
  return { kind: "focus", main, strip: tiles.filter((k) => k !== main) };
}
