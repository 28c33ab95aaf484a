// The call statistics panel: the latest `call.stats` (round trip, uplink
// estimate, a row per track), over the tiles. It is updated in place every
// time new statistics arrive: the same rows get new text, nothing takes focus.

import { h, setText, svg, toggleAttr } from "./dom";
import type { CallStats } from "./generated/CallStats";
import type { MemberId } from "./generated/MemberId";
import type { TrackKind } from "./generated/TrackKind";
import type { TrackStats } from "./generated/TrackStats";
import { icons } from "./icons";
import { memberById, type State } from "./state";

const NONE = "—";
const COLUMNS = ["Whose", "Kind", "Direction", "kb/s", "Loss %", "Jitter ms", "FPS", "Size", "Layer"];
const KIND_LABEL: Record<TrackKind, string> = { camera: "Camera", screen: "Screen", microphone: "Microphone" };
const KIND_ORDER: readonly TrackKind[] = ["camera", "screen", "microphone"];
const DIRECTION_LABEL: Record<TrackStats["direction"], string> = { uplink: "Up", downlink: "Down" };
/** Simulcast layers by number: 0 is full size. */
const LAYER_NAMES = ["full", "half", "quarter"];

/** A simulcast layer's name ("full", "half", "quarter"); a dash for none. */
export function layerName(layer: number | null): string {
  return (layer !== null && LAYER_NAMES[layer]) || NONE;
}

const fixed = (v: number | null, digits = 0) => (v === null || !Number.isFinite(v) ? NONE : v.toFixed(digits));

export interface StatsRow {
  /** The same track from one update to the next: whose, kind, direction, and the layer of a sent one. */
  key: string;
  track: TrackStats;
  /** The text of each column (`COLUMNS`). */
  cells: string[];
}

/** The table's rows: my own tracks first, then each member's in join order; per person by kind, then layer. */
export function statsRows(stats: CallStats, s: State): StatsRow[] {
  const person = (id: MemberId | null) => {
    if (id === null) return -1;
    const at = s.members.findIndex((m) => m.id === id);
    return at < 0 ? s.members.length : at;
  };
  const order = (t: TrackStats) => [person(t.member_id), KIND_ORDER.indexOf(t.kind), t.direction === "uplink" ? 0 : 1, t.layer ?? 0];
  const compare = (a: TrackStats, b: TrackStats) => {
    const x = order(a);
    const y = order(b);
    const at = x.findIndex((v, i) => v !== y[i]);
    return at < 0 ? 0 : x[at] - y[at];
  };
  return [...stats.tracks].sort(compare).map((t) => ({
    // A sent camera has a row per layer; a received video keeps its row when its layer changes.
    key: [t.member_id ?? "self", t.kind, t.direction, t.direction === "uplink" ? (t.layer ?? "") : ""].join(":"),
    track: t,
    cells: [
      t.member_id === null ? "You" : (memberById(s, t.member_id)?.name ?? t.member_id),
      KIND_LABEL[t.kind] ?? t.kind,
      DIRECTION_LABEL[t.direction] ?? t.direction,
      fixed(t.kbps),
      fixed(t.loss_percent, 1),
      fixed(t.jitter_ms),
      fixed(t.fps),
      t.width !== null && t.height !== null ? `${t.width}×${t.height}` : NONE,
      layerName(t.layer),
    ],
  }));
}

export class StatsPanel {
  readonly el: HTMLElement;
  private empty: HTMLElement;
  private content: HTMLElement;
  private rtt: HTMLElement;
  private uplink: HTMLElement;
  private noTracks: HTMLElement;
  private body: HTMLTableSectionElement;
  private rows = new Map<string, HTMLTableRowElement>();
  /** What the panel shows now. */
  private shown: Pick<State, "callStats" | "members"> | null = null;

  constructor(onClose: () => void) {
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close statistics", title: "Close" }, svg(icons.close));
    close.addEventListener("click", onClose);
    this.rtt = h("dd", { id: "stats-rtt" });
    this.uplink = h("dd", { id: "stats-uplink" });
    this.body = h("tbody");
    this.noTracks = h("p", { class: "stats-note" }, "No media is flowing yet.");
    this.empty = h("div", { class: "stats-note" }, "Waiting for statistics…");
    this.content = h(
      "div",
      { class: "stats-content", hidden: true },
      h("dl", { class: "stats-summary" }, h("div", {}, h("dt", {}, "Round trip"), this.rtt), h("div", {}, h("dt", {}, "Uplink estimate"), this.uplink)),
      h("table", { class: "stats-table" }, h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), this.body),
      this.noTracks,
    );
    this.el = h(
      "aside",
      { id: "stats-panel", class: "stats-panel", "aria-label": "Call statistics" },
      h("div", { class: "panel-head" }, h("h2", {}, "Call statistics"), close),
      this.empty,
      this.content,
    );
  }

  render(s: State): void {
    if (this.shown?.callStats === s.callStats && this.shown.members === s.members) return;
    this.shown = { callStats: s.callStats, members: s.members };
    const stats = s.callStats;
    this.empty.hidden = stats !== null;
    this.content.hidden = stats === null;
    if (!stats) return;
    setText(this.rtt, stats.rtt_ms === null ? NONE : `${fixed(stats.rtt_ms)} ms`);
    setText(this.uplink, `${fixed(stats.uplink_estimate_kbps)} kb/s`);
    const rows = statsRows(stats, s);
    const keys = new Set(rows.map((r) => r.key));
    for (const [key, tr] of this.rows) {
      if (keys.has(key)) continue;
      tr.remove();
      this.rows.delete(key);
    }
    rows.forEach((row, i) => {
      let tr = this.rows.get(row.key);
      if (!tr) {
        const t = row.track;
        tr = h("tr", { "data-member-id": t.member_id ?? "self", "data-kind": t.kind, "data-direction": t.direction }, row.cells.map(() => h("td")));
        this.rows.set(row.key, tr);
      }
      row.cells.forEach((text, j) => setText(tr.children[j], text));
      toggleAttr(tr, "data-layer", row.track.layer === null ? null : String(row.track.layer));
      const at = this.body.children[i];
      if (at !== tr) this.body.insertBefore(tr, at ?? null);
    });
    this.noTracks.hidden = rows.length > 0;
  }
}
