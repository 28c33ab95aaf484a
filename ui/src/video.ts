// Video tiles and the frame hub that feeds them.
//
// A `VideoTile` is one `.tile` element with its canvas, avatar and labels. The
// `FrameHub` owns the frame socket: it tells the backend which tiles are
// visible and at what size, and routes each received frame to its tile.

import type { FrameTransport, FrameTransportHandlers } from "./backend";
import { devicePixels, parseFrame, subscription, tileKey, type Frame, type VideoKind } from "./frames";
import type { ConnectionQuality } from "./generated/ConnectionQuality";
import type { FrameDrawn } from "./generated/FrameDrawn";
import type { TileRequest } from "./generated/TileRequest";
import { createRenderer, isLostGl, type FrameRenderer } from "./renderer";
import { FrameStats } from "./stats";
import { h, hueFor, initials, setText, svg, toggleAttr } from "./dom";
import { icons } from "./icons";
import { QualityIndicator } from "./quality";

export interface TileInfo {
  name: string;
  audioMuted: boolean;
  videoMuted: boolean;
  talking: boolean;
  /** Text shown over the avatar (e.g. "Camera is off"). */
  note?: string;
  moderator?: boolean;
  /** The member's connection dropped; it may come back within the grace period. */
  reconnecting?: boolean;
  /** The member's connection quality, once known. */
  quality?: ConnectionQuality | null;
  /** The simulcast layer received (0 full, 1 half, 2 quarter; null none), once the server said (`data-layer`). */
  layer?: number | null;
}

export class VideoTile {
  readonly el: HTMLDivElement;
  readonly key: string;
  canvas: HTMLCanvasElement;
  private renderer: FrameRenderer | null = null;
  private avatar: HTMLDivElement;
  private avatarText: HTMLSpanElement;
  private noteEl: HTMLDivElement;
  private nameEl: HTMLSpanElement;
  private reconnectingEl: HTMLDivElement;
  private quality = new QualityIndicator({ class: "tile-quality" });
  private hasFrame = false;
  private videoMuted = false;
  /** Whether the tile wants frames at all (e.g. not while the camera is off). */
  private wanted = true;
  visible = true;
  cssWidth = 0;
  cssHeight = 0;
  private resizeObs: ResizeObserver | null = null;
  private interObs: IntersectionObserver | null = null;

  constructor(
    readonly memberId: string,
    readonly kind: VideoKind,
    private hub: FrameHub,
    extraClass = "",
  ) {
    this.key = tileKey(memberId, kind);
    this.canvas = this.makeCanvas();
    this.avatarText = h("span", { class: "avatar-circle" });
    this.noteEl = h("div", { class: "tile-note" });
    this.avatar = h("div", { class: "tile-avatar" }, this.avatarText, this.noteEl);
    this.nameEl = h("span", { class: "tile-name" });
    this.reconnectingEl = h("div", { class: "tile-reconnecting", hidden: true }, "Reconnecting…");
    const micOff = svg(icons.micOff);
    micOff.classList.add("tile-icon", "tile-mic-off");
    const camOff = svg(icons.cameraOff);
    camOff.classList.add("tile-icon", "tile-cam-off");
    this.el = h(
      "div",
      {
        class: `tile ${kind === "screen" ? "tile-screen" : "tile-camera"} ${extraClass}`.trim(),
        "data-member-id": memberId,
        "data-kind": kind,
      },
      this.canvas,
      this.avatar,
      this.reconnectingEl,
      // The Moderator badge sits in the name label: in a corner of its own, the rounded corner clipped it.
      h("div", { class: "tile-label" }, this.quality.el, micOff, camOff, this.nameEl, h("span", { class: "tile-badge" }, "Moderator")),
    );
    if (typeof ResizeObserver !== "undefined") {
      this.resizeObs = new ResizeObserver((entries) => {
        for (const e of entries) {
          const box = e.contentRect;
          this.setSize(box.width, box.height);
        }
      });
      this.resizeObs.observe(this.el);
    }
    if (typeof IntersectionObserver !== "undefined") {
      this.interObs = new IntersectionObserver((entries) => {
        for (const e of entries) {
          if (this.visible !== e.isIntersecting) {
            this.visible = e.isIntersecting;
            this.hub.requestUpdate();
          }
        }
      });
      this.interObs.observe(this.el);
    }
    hub.register(this);
  }

  private makeCanvas(): HTMLCanvasElement {
    const c = h("canvas", { class: "tile-canvas", "data-testid": "tile-canvas" });
    c.width = 2;
    c.height = 2;
    return c;
  }

  setSize(w: number, hgt: number): void {
    const nw = Math.round(w);
    const nh = Math.round(hgt);
    if (nw !== this.cssWidth || nh !== this.cssHeight) {
      this.cssWidth = nw;
      this.cssHeight = nh;
      // Scale the initials avatar with the tile.
      const d = Math.round(Math.max(36, Math.min(120, Math.min(nh * 0.42, nw * 0.3))));
      this.avatarText.style.width = `${d}px`;
      this.avatarText.style.fontSize = `${Math.round(d * 0.36)}px`;
      this.hub.requestUpdate();
    }
  }

  /** Measures the element now (for when no ResizeObserver is around). */
  measure(): void {
    const r = this.el.getBoundingClientRect();
    this.setSize(r.width, r.height);
  }

  update(info: TileInfo): void {
    setText(this.nameEl, info.name);
    const person = info.name.replace(/\s*\(you\)$/i, "");
    setText(this.avatarText, initials(person));
    // The colour follows the person (their name), not the member id, which is handed out in join order.
    this.avatarText.style.setProperty("--hue", String(hueFor(person)));
    setText(this.noteEl, info.note ?? "");
    this.el.classList.toggle("talking", info.talking);
    this.el.classList.toggle("audio-muted", info.audioMuted);
    this.el.classList.toggle("video-off", info.videoMuted);
    this.el.classList.toggle("moderator", !!info.moderator);
    this.el.classList.toggle("reconnecting", !!info.reconnecting);
    this.reconnectingEl.hidden = !info.reconnecting;
    this.quality.set(info.quality);
    toggleAttr(this.el, "data-layer", info.layer === undefined ? null : String(info.layer ?? "none"));
    if (info.videoMuted && !this.videoMuted) {
      // Show the avatar until a fresh frame arrives after the camera is back.
      this.hasFrame = false;
      this.el.classList.remove("has-frame");
    }
    this.videoMuted = info.videoMuted;
  }

  setWanted(wanted: boolean): void {
    if (wanted !== this.wanted) {
      this.wanted = wanted;
      if (!wanted) {
        this.hasFrame = false;
        this.el.classList.remove("has-frame");
      }
      this.hub.requestUpdate();
    }
  }

  /** The subscription entry for this tile, or null when it should get no frames. */
  request(dpr: number): TileRequest | null {
    if (!this.wanted || !this.visible || !this.el.isConnected) return null;
    if (this.cssWidth < 2 || this.cssHeight < 2) return null;
    return {
      member_id: this.memberId,
      kind: this.kind,
      width: devicePixels(this.cssWidth, dpr),
      height: devicePixels(this.cssHeight, dpr),
    };
  }

  get rendererKind(): string {
    return this.renderer?.kind ?? "none";
  }

  /** Draws a frame; returns the renderer used, or null if nothing was drawn. */
  draw(frame: Frame): string | null {
    if (this.renderer && this.renderer.pixels !== frame.pixels) {
      // Another kind of frame (a canvas keeps its first context type): start over.
      this.replaceCanvas();
    }
    if (!this.renderer) this.renderer = createRenderer(this.canvas, frame.pixels);
    if (!this.renderer) return null;
    let ok = this.renderer.draw(frame);
    if (!ok && isLostGl(this.renderer)) {
      // The GL context was lost (e.g. too many contexts): switch this tile to Canvas2D.
      this.replaceCanvas();
      this.renderer = createRenderer(this.canvas, frame.pixels, false);
      ok = !!this.renderer && this.renderer.draw(frame);
    }
    if (!ok || !this.renderer) return null;
    if (!this.hasFrame && this.wanted) {
      this.hasFrame = true;
      this.el.classList.add("has-frame");
    }
    return this.renderer.kind;
  }

  /** A fresh canvas without a renderer, in place of the old one. */
  private replaceCanvas(): void {
    this.renderer?.dispose();
    this.renderer = null;
    const fresh = this.makeCanvas();
    this.canvas.replaceWith(fresh);
    this.canvas = fresh;
  }

  destroy(): void {
    this.hub.unregister(this);
    this.resizeObs?.disconnect();
    this.interObs?.disconnect();
    this.renderer?.dispose();
    this.renderer = null;
    this.el.remove();
  }
}

export type TransportFactory = (url: string, handlers: FrameTransportHandlers) => FrameTransport;

export class FrameHub {
  private tiles = new Map<string, VideoTile>();
  private transport: FrameTransport | null = null;
  private open = false;
  private lastSent = "";
  private pending = false;
  private retryMs = 500;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  readonly stats = new FrameStats();
  /** Frames dropped because no tile wanted them. */
  unrouted = 0;

  constructor(
    private url: string,
    private openTransport: TransportFactory,
  ) {}

  start(): void {
    this.closed = false;
    this.connect();
  }

  private connect(): void {
    if (this.closed || !this.url) return;
    try {
      this.transport = this.openTransport(this.url, {
        onOpen: () => {
          this.open = true;
          this.retryMs = 500;
          this.lastSent = "";
          this.flush();
        },
        onFrame: (data) => this.onFrame(data),
        onClose: () => {
          this.open = false;
          this.transport = null;
          if (!this.closed) {
            this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
            this.retryMs = Math.min(this.retryMs * 2, 5000);
          }
        },
      });
    } catch (e) {
      console.warn("conclave: frame socket failed", e);
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    }
  }

  stop(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.transport?.close();
    this.transport = null;
    this.open = false;
  }

  register(tile: VideoTile): void {
    this.tiles.set(tile.key, tile);
    this.requestUpdate();
  }

  unregister(tile: VideoTile): void {
    if (this.tiles.get(tile.key) === tile) this.tiles.delete(tile.key);
    this.requestUpdate();
  }

  tile(key: string): VideoTile | undefined {
    return this.tiles.get(key);
  }

  /** Recomputes the subscription soon (coalescing bursts of layout changes). */
  requestUpdate(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.flush();
    }, 0);
  }

  currentSubscription(): TileRequest[] {
    const dpr = window.devicePixelRatio || 1;
    const out: TileRequest[] = [];
    for (const t of this.tiles.values()) {
      const r = t.request(dpr);
      if (r) out.push(r);
    }
    return subscription(out).tiles;
  }

  private flush(): void {
    if (!this.open || !this.transport) return;
    const msg = JSON.stringify({ tiles: this.currentSubscription() });
    if (msg !== this.lastSent) {
      this.lastSent = msg;
      this.transport.send(msg);
    }
  }

  onFrame(data: ArrayBuffer): void {
    const frame = parseFrame(data);
    if (!frame) return;
    const key = tileKey(frame.memberId, frame.kind);
    const tile = this.tiles.get(key);
    if (!tile) {
      this.unrouted++;
    } else {
      const used = tile.draw(frame);
      if (used) this.stats.record(key, frame.decodedAt, used, frame);
    }
    // Done with it: the backend sends this tile's next frame only after this.
    const done: FrameDrawn = { drawn: { member_id: frame.memberId, kind: frame.kind } };
    this.transport?.send(JSON.stringify(done));
  }
}
