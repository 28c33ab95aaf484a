// The room view: video grid or stage + strip, control bar, chat and
// participants panels, call statistics, share and device pickers.

import { ask, askText, confirmDialog } from "./confirm";
import { deviceLabel, type Ctx } from "./context";
import { h, hueFor, initials, setText, svg, toggleAttr } from "./dom";
import type { Device } from "./generated/Device";
import type { DeviceList } from "./generated/DeviceList";
import type { Member } from "./generated/Member";
import type { Playback } from "./generated/Playback";
import type { VoiceSettings } from "./generated/VoiceSettings";
import { icons } from "./icons";
import { PRESENTING, arrange, layout, type ViewMode } from "./layout";
import { meterFraction, playTestSound } from "./lobby";
import { QualityIndicator } from "./quality";
import { SHORTCUTS, shortcutAction, type RoomAction } from "./shortcuts";
import { showVoice, VOICE_DEFAULT, voiceToggles } from "./voice";
import {
  connectionState,
  devicesOf,
  isModerator,
  memberById,
  myMember,
  others,
  playbackOf,
  screensForSharing,
  type ChatEntry,
  type DevicesInUse,
  type InUseKind,
  type MediaState,
  type State,
} from "./state";
import { StatsPanel } from "./statspanel";
import { VideoTile, type TileInfo } from "./video";

const GRID_GAP = 10;
/** How often the microphone meters ask for the level. */
const LEVEL_POLL_MS = 100;

/** The rows of the in-call device picker. */
const DEVICE_ROWS: ReadonlyArray<readonly [InUseKind, string]> = [
  ["microphone", "Microphone"],
  ["speaker", "Speaker"],
  ["camera", "Camera"],
];

const MEDIA_LABEL: Record<MediaState, string> = {
  idle: "",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnected: "Media disconnected",
};

/** The simulcast layer I receive of a member's video: undefined while the server has not said. */
function layerOf(s: State, memberId: string, kind: "camera" | "screen"): number | null | undefined {
  return s.layers.find((l) => l.member_id === memberId && l.kind === kind)?.layer;
}

function controlButton(id: string, icon: string, label: string, extraClass = ""): HTMLButtonElement {
  const b = h("button", { id, type: "button", class: `ctrl ${extraClass}`.trim(), "aria-label": label, title: label });
  b.append(h("span", { class: "ctrl-icon" }, svg(icon)));
  return b;
}

const shownIcon = new WeakMap<Element, string>();

function setIcon(btn: HTMLButtonElement, icon: string): void {
  const holder = btn.querySelector(".ctrl-icon");
  if (holder && shownIcon.get(holder) !== icon) {
    holder.replaceChildren(svg(icon));
    shownIcon.set(holder, icon);
  }
}

function formatTime(ms: number): string {
  if (!ms) return "";
  try {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  } catch {
    return "";
  }
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Fall through to the selection fallback.
  }
  const ta = h("textarea", { class: "offscreen", readonly: true });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export class RoomView {
  readonly el: HTMLDivElement;
  private main: HTMLDivElement;
  private grid: HTMLDivElement;
  private stageLayout: HTMLDivElement;
  private stage: HTMLDivElement;
  private strip: HTMLDivElement;
  private presenting: HTMLDivElement;
  private side: HTMLDivElement;
  private roomName: HTMLSpanElement;
  private countEl: HTMLSpanElement;
  private conn: HTMLSpanElement;
  /** My own connection's quality, beside the connection state. */
  private ownQuality = new QualityIndicator({ id: "own-quality", class: "own-quality" });
  /** Shown while my connection to the room server is down (`room.reconnecting`). */
  private reconnectBanner: HTMLDivElement | null = null;
  private hostChip: HTMLDivElement;
  private inviteCard: HTMLDivElement | null = null;
  private inviteDismissed = false;
  private btnMic: HTMLButtonElement;
  private btnCamera: HTMLButtonElement;
  private btnShare: HTMLButtonElement;
  private btnSettings: HTMLButtonElement;
  private btnChat: HTMLButtonElement;
  private btnPeople: HTMLButtonElement;
  private btnLeave: HTMLButtonElement;
  private btnLayout: HTMLButtonElement;
  private btnFullscreen: HTMLButtonElement;
  private btnHelp: HTMLButtonElement;
  private btnStats: HTMLButtonElement;
  /** The level bar in the microphone button. */
  private micLevelFill: HTMLSpanElement;
  private help: HTMLDivElement | null = null;
  private levelTimer: ReturnType<typeof setInterval> | null = null;
  private levelPending = false;
  private fullscreen = false;
  private chatBadge: HTMLSpanElement;
  private peopleCount: HTMLSpanElement;
  private sharePicker: HTMLDivElement | null = null;
  /** The screens the open share picker lists. */
  private shownScreens: Device[] | null = null;
  private devicePicker: HTMLDivElement | null = null;
  /** The device list and in-use ids the open device picker shows. */
  private shownDevices: { devices: DeviceList; inUse: DevicesInUse } | null = null;
  private chat: ChatPanel | null = null;
  private people: ParticipantsPanel | null = null;
  private stats: StatsPanel | null = null;
  private tiles = new Map<string, VideoTile>();
  private resizeObs: ResizeObserver | null = null;
  private last: State | null = null;
  private mode: "grid" | "focus" = "grid";
  private leaving = false;
  private onDocClick = (e: MouseEvent) => this.closePopoversOutside(e);
  private onResize = () => this.relayout();
  private onKey = (e: KeyboardEvent) => this.onShortcut(e);

  constructor(private ctx: Ctx) {
    this.grid = h("div", { class: "grid", id: "grid" });
    this.stage = h("div", { class: "stage", id: "stage" });
    this.strip = h("div", { class: "strip", id: "strip" });
    const stopBtn = h("button", { id: "stop-presenting", type: "button", class: "btn btn-primary" }, svg(icons.shareStop), "Stop presenting");
    stopBtn.addEventListener("click", () => void this.stopShare());
    this.presenting = h(
      "div",
      { class: "presenting-card" },
      h("div", { class: "presenting-icon" }, svg(icons.monitor)),
      h("div", { class: "presenting-title" }, "You are presenting to everyone"),
      h("div", { class: "presenting-desc" }, "Others see your screen in the big area."),
      stopBtn,
    );
    this.stageLayout = h("div", { class: "stage-layout" }, this.stage, this.strip);
    this.main = h("div", { class: "room-main" }, this.grid);
    this.side = h("div", { class: "side" });

    this.roomName = h("span", { class: "room-name" });
    this.countEl = h("span", { class: "room-count" });
    this.conn = h("span", { class: "conn", role: "status" });
    this.hostChip = h("div", { class: "host-chip hidden" });

    this.btnMic = controlButton("btn-mic", icons.mic, "Turn off microphone (Ctrl+D)");
    this.btnCamera = controlButton("btn-camera", icons.camera, "Turn off camera (Ctrl+E)");
    this.btnShare = controlButton("btn-share", icons.share, "Share screen");
    this.btnSettings = controlButton("btn-settings", icons.settings, "Settings");
    this.btnLeave = controlButton("btn-leave", icons.leave, "Leave the room", "ctrl-leave");
    this.btnChat = controlButton("btn-chat", icons.chat, "Chat", "ctrl-flat");
    this.btnPeople = controlButton("btn-participants", icons.people, "Participants", "ctrl-flat");
    this.btnLayout = controlButton("btn-layout", icons.speakerView, "Speaker view (L)", "ctrl-flat");
    this.btnFullscreen = controlButton("btn-fullscreen", icons.fullscreen, "Fullscreen (F)", "ctrl-flat");
    this.btnHelp = controlButton("btn-shortcuts", icons.keyboard, "Keyboard shortcuts (?)", "ctrl-flat");
    this.btnStats = controlButton("btn-stats", icons.activity, "Call statistics (S)", "ctrl-flat");
    this.micLevelFill = h("span", { class: "ctrl-level-fill" });
    this.btnMic.append(
      h("span", { class: "ctrl-level", id: "call-mic-meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, this.micLevelFill),
    );
    this.chatBadge = h("span", { class: "badge hidden", id: "chat-unread", "aria-label": "unread messages" });
    this.btnChat.append(this.chatBadge);
    this.peopleCount = h("span", { class: "count-pill" });
    this.btnPeople.append(this.peopleCount);
    for (const b of [this.btnMic, this.btnCamera]) b.setAttribute("aria-pressed", "false");
    this.btnShare.setAttribute("aria-pressed", "false");

    this.btnMic.addEventListener("click", () => this.toggleMic());
    this.btnCamera.addEventListener("click", () => this.toggleCamera());
    this.btnShare.addEventListener("click", (e) => {
      e.stopPropagation();
      void this.onShareClick();
    });
    this.btnSettings.addEventListener("click", (e) => {
      e.stopPropagation();
      void this.toggleDevicePicker();
    });
    this.btnChat.addEventListener("click", () => this.ctx.dispatch({ event: "ui.chatOpen", params: { open: !this.ctx.state().chatOpen } }));
    this.btnPeople.addEventListener("click", () =>
      this.ctx.dispatch({ event: "ui.participantsOpen", params: { open: !this.ctx.state().participantsOpen } }),
    );
    this.btnLeave.addEventListener("click", () => void this.leave());
    this.btnLayout.addEventListener("click", () => this.run("layout"));
    this.btnFullscreen.addEventListener("click", () => this.run("fullscreen"));
    this.btnHelp.addEventListener("click", (e) => {
      e.stopPropagation();
      this.run("help");
    });
    this.btnStats.addEventListener("click", () => this.run("stats"));

    const shareWrap = h("div", { class: "popover-anchor" }, this.btnShare);
    const settingsWrap = h("div", { class: "popover-anchor" }, this.btnSettings);
    this.el = h(
      "div",
      { id: "room-view", class: "room" },
      h(
        "header",
        { class: "room-top" },
        h("div", { class: "room-title" }, svg(icons.logo), this.roomName, this.countEl, this.conn, this.ownQuality.el),
        this.hostChip,
      ),
      h("div", { class: "room-body" }, this.main, this.side),
      h(
        "footer",
        { class: "control-bar" },
        h("div", { class: "bar-left" }, h("span", { class: "clock" })),
        h("div", { class: "bar-center" }, this.btnMic, this.btnCamera, shareWrap, settingsWrap, this.btnLeave),
        h("div", { class: "bar-right" }, this.btnHelp, this.btnStats, this.btnLayout, this.btnFullscreen, this.btnChat, this.btnPeople),
      ),
    );
    if (typeof ResizeObserver !== "undefined") {
      this.resizeObs = new ResizeObserver(() => this.relayout());
      this.resizeObs.observe(this.main);
    }
    window.addEventListener("resize", this.onResize);
    document.addEventListener("click", this.onDocClick);
    document.addEventListener("keydown", this.onKey);
    this.tickClock();
    this.levelTimer = setInterval(() => void this.pollLevel(), LEVEL_POLL_MS);
  }

  /** The microphone's level for the meters (the mic button's, and Settings'), one request at a time. */
  private async pollLevel(): Promise<void> {
    if (this.levelPending) return;
    this.levelPending = true;
    try {
      const dbfs = await this.ctx.api.micLevel();
      this.showLevel(typeof dbfs === "number" ? dbfs : -Infinity);
    } catch {
      this.showLevel(-Infinity);
    } finally {
      this.levelPending = false;
    }
  }

  private showLevel(dbfs: number): void {
    // Muted, the microphone still hears; the meter says what the others get.
    const muted = !!myMember(this.ctx.state())?.audio_muted;
    const f = muted ? 0 : meterFraction(dbfs);
    const percent = String(Math.round(f * 100));
    this.micLevelFill.style.transform = `scaleY(${f.toFixed(3)})`;
    toggleAttr(this.micLevelFill.parentElement!, "aria-valuenow", percent);
    const settings = this.devicePicker?.querySelector<HTMLElement>("#settings-mic-meter");
    if (settings) {
      const fill = settings.firstElementChild as HTMLElement;
      fill.style.transform = `scaleX(${f.toFixed(3)})`;
      fill.classList.toggle("hot", f > 0.85);
      toggleAttr(settings, "aria-valuenow", percent);
    }
  }

  private clockTimer: ReturnType<typeof setInterval> | null = null;
  private tickClock(): void {
    const el = this.el.querySelector(".clock");
    const tick = () => el && setText(el, formatTime(Date.now()));
    tick();
    this.clockTimer = setInterval(tick, 10_000);
  }

  mounted(): void {
    this.relayout();
    for (const t of this.tiles.values()) t.measure();
  }

  // ---- rendering -----------------------------------------------------------

  render(s: State): void {
    this.last = s;
    const me = myMember(s);
    setText(this.roomName, s.room ?? "");
    setText(this.countEl, `${s.members.length} ${s.members.length === 1 ? "person" : "people"}`);
    const conn = connectionState(s);
    setText(this.conn, MEDIA_LABEL[conn]);
    this.conn.className = `conn conn-${conn}`;
    this.ownQuality.set(s.me === null ? null : s.quality[s.me]);
    this.renderReconnecting(s);
    this.renderHost(s);
    this.renderTiles(s, me);
    this.renderControls(s, me);
    this.renderPanels(s);
    this.renderStats(s);
    this.renderPickers(s);
    this.relayout();
  }

  /** The banner under the top bar while the client reconnects to the room server. */
  private renderReconnecting(s: State): void {
    const attempt = s.reconnectAttempt;
    if (attempt === null) {
      this.reconnectBanner?.remove();
      this.reconnectBanner = null;
      return;
    }
    if (!this.reconnectBanner) {
      this.reconnectBanner = h(
        "div",
        { id: "reconnecting-banner", class: "reconnecting-banner", role: "status" },
        h("span", { class: "reconnecting-spinner", "aria-hidden": "true" }),
        h("strong", { class: "reconnecting-title" }),
        h("span", { class: "reconnecting-note" }, "The call continues when the connection is back."),
      );
      this.el.querySelector(".room-top")!.after(this.reconnectBanner);
    }
    // The first attempt goes at once: its number is no news.
    const title = attempt > 1 ? `Reconnecting to the meeting… (attempt ${attempt})` : "Reconnecting to the meeting…";
    setText(this.reconnectBanner.querySelector(".reconnecting-title")!, title);
  }

  private renderHost(s: State): void {
    const inv = s.invite;
    this.hostChip.classList.toggle("hidden", !inv);
    if (!inv) return;
    if (!this.hostChip.firstChild) {
      const copy = h("button", { id: "copy-link", type: "button", class: "btn btn-ghost btn-small", title: "Copy the room link" }, svg(icons.copy), "Copy link");
      copy.addEventListener("click", () => void this.copyLink());
      this.hostChip.append(h("span", { class: "host-address" }), copy);
    }
    const addr = this.hostChip.querySelector(".host-address")!;
    setText(addr, inv.hosted_address ? `Hosting on ${inv.hosted_address}` : inv.room_link);
    addr.setAttribute("title", inv.room_link);
    if (!this.inviteCard && !this.inviteDismissed) this.showInviteCard(s);
  }

  private showInviteCard(s: State): void {
    const inv = s.invite;
    if (!inv) return;
    const linkInput = h("input", { id: "room-link-display", type: "text", readonly: true, "aria-label": "Room link" });
    linkInput.value = inv.room_link;
    linkInput.addEventListener("focus", () => linkInput.select());
    const copy = h("button", { type: "button", class: "btn btn-primary btn-small" }, svg(icons.copy), "Copy");
    copy.addEventListener("click", () => void this.copyLink());
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close", title: "Close" }, svg(icons.close));
    close.addEventListener("click", () => {
      this.inviteDismissed = true;
      this.inviteCard?.remove();
      this.inviteCard = null;
      this.renderPanels(this.ctx.state());
      this.relayout();
    });
    this.inviteCard = h(
      "div",
      { class: "invite-card", id: "invite-card", role: "dialog", "aria-label": "Invite others" },
      h("div", { class: "invite-head" }, h("strong", {}, "Your meeting’s ready"), close),
      inv.hosted_address
        ? h("p", {}, "You are hosting. Others on your network can join at ", h("code", { id: "hosted-address" }, inv.hosted_address), " or with this link:")
        : h("p", {}, "Share this link with others you want in the meeting:"),
      h("div", { class: "inline" }, linkInput, copy),
      inv.link_is_local
        ? h(
            "p",
            { class: "invite-warning", id: "invite-local-warning" },
            "This link names this computer only (a loopback address), so it works for nobody else. Join with the server's network address to invite others.",
          )
        : null,
    );
    // In the side column, not over the tiles: it would hide a tile's name.
    this.side.prepend(this.inviteCard);
  }

  private async copyLink(): Promise<void> {
    const link = this.last?.invite?.room_link;
    if (!link) return;
    const ok = await copyText(link);
    this.ctx.toast(ok ? "Room link copied" : `Copy failed; the link is ${link}`, ok ? "success" : "warning");
  }

  private tileFor(memberId: string, kind: "camera" | "screen", cls = ""): VideoTile {
    const key = `${memberId}:${kind}`;
    let t = this.tiles.get(key);
    if (!t) {
      const created = new VideoTile(memberId, kind, this.ctx.hub, cls);
      this.addPin(created);
      this.tiles.set(key, created);
      // Measure once it is placed, in case ResizeObserver is slow to report.
      setTimeout(() => created.measure(), 0);
      t = created;
    }
    return t;
  }

  private renderTiles(s: State, me: Member | undefined): void {
    const wanted = new Set<string>();
    const cams: VideoTile[] = [];

    const self = this.tileFor("self", "camera", "self-tile");
    wanted.add(self.key);
    const myName = me?.name ?? this.ctx.choices?.name ?? "You";
    self.update({
      name: `${myName} (You)`,
      audioMuted: !!me?.audio_muted,
      videoMuted: !!me?.video_muted,
      // My own `member.talking` comes back too.
      talking: !!me?.talking && !me.audio_muted,
      moderator: s.role === "moderator",
      quality: s.me === null ? null : s.quality[s.me],
    });
    self.setWanted(!me?.video_muted);
    cams.push(self);

    for (const m of others(s)) {
      const t = this.tileFor(m.id, "camera");
      wanted.add(t.key);
      const info: TileInfo = {
        name: m.name,
        audioMuted: m.audio_muted,
        videoMuted: m.video_muted,
        talking: m.talking && !m.audio_muted,
        moderator: m.role === "moderator",
        reconnecting: m.reconnecting,
        quality: s.quality[m.id],
        layer: layerOf(s, m.id, "camera"),
      };
      t.update(info);
      cams.push(t);
    }

    let stageTile: VideoTile | null = null;
    const sharer = memberById(s, s.stage);
    if (s.stage && s.stage !== s.me && sharer) {
      stageTile = this.tileFor(sharer.id, "screen", "stage-tile");
      wanted.add(stageTile.key);
      const arriving = s.tracks.includes(`${sharer.id}:screen`);
      stageTile.update({
        name: `${sharer.name}’s screen`,
        audioMuted: false,
        videoMuted: false,
        talking: false,
        note: arriving ? "" : `Waiting for ${sharer.name}’s screen…`,
        reconnecting: sharer.reconnecting,
        quality: s.quality[sharer.id],
        layer: layerOf(s, sharer.id, "screen"),
      });
    }
    const iPresent = !!me?.screen_sharing;

    for (const [key, t] of this.tiles) {
      if (!wanted.has(key)) {
        t.destroy();
        this.tiles.delete(key);
      }
    }

    const placed = arrange({
      view: s.view,
      cameras: cams.map((t) => t.key),
      screen: stageTile?.key ?? null,
      presenting: iPresent,
      pinned: s.pinned,
      speaker: s.activeSpeaker ? `${s.activeSpeaker}:camera` : null,
    });
    for (const t of this.tiles.values()) {
      const pinned = t.key === s.pinned;
      t.el.classList.toggle("pinned", pinned);
      const pin = t.el.querySelector<HTMLButtonElement>(".tile-pin");
      if (pin) {
        toggleAttr(pin, "aria-pressed", String(pinned));
        toggleAttr(pin, "aria-label", pinned ? "Unpin" : "Pin");
        toggleAttr(pin, "title", pinned ? "Unpin (double-click)" : "Pin to the big area (double-click)");
      }
    }
    const byKey = (key: string) => this.tiles.get(key)!;
    if (placed.kind === "focus") {
      if (this.mode !== "focus" || this.stageLayout.parentElement !== this.main) {
        this.grid.remove();
        this.main.prepend(this.stageLayout);
        this.mode = "focus";
      }
      const stageChild = placed.main === PRESENTING ? this.presenting : byKey(placed.main).el;
      if (this.stage.firstElementChild !== stageChild || this.stage.childElementCount !== 1) this.stage.replaceChildren(stageChild);
      this.place(this.strip, placed.strip.map(byKey));
    } else {
      if (this.mode !== "grid" || this.grid.parentElement !== this.main) {
        this.stageLayout.remove();
        this.main.prepend(this.grid);
        this.mode = "grid";
      }
      this.place(this.grid, placed.tiles.map(byKey));
    }
    this.el.classList.toggle("has-stage", placed.kind === "focus");
    this.el.dataset.view = s.view;
  }

  /** A pin button on a tile; double-clicking the tile does the same. */
  private addPin(t: VideoTile): void {
    const toggle = () => {
      const pinned = this.ctx.state().pinned;
      this.ctx.dispatch({ event: "ui.pin", params: { tile: pinned === t.key ? null : t.key } });
    };
    const pin = h("button", { type: "button", class: "tile-pin", "aria-pressed": "false", "aria-label": "Pin", title: "Pin to the big area (double-click)" }, svg(icons.pin));
    pin.addEventListener("click", (e) => {
      e.stopPropagation();
      toggle();
    });
    // The second click of a double click on the button is the button's own.
    pin.addEventListener("dblclick", (e) => e.stopPropagation());
    t.el.addEventListener("dblclick", toggle);
    t.el.append(pin);
  }

  /** Puts tiles into a container in order, moving only what is out of place. */
  private place(container: HTMLElement, tiles: VideoTile[]): void {
    tiles.forEach((t, i) => {
      const at = container.children[i];
      if (at !== t.el) container.insertBefore(t.el, at ?? null);
    });
    while (container.children.length > tiles.length) container.lastElementChild!.remove();
  }

  /** Sizes the grid tiles to the largest arrangement that fits. */
  relayout(): void {
    if (this.mode === "grid") {
      const tiles = Array.from(this.grid.children) as HTMLElement[];
      // Measure the area, not the grid: the grid's own width is capped below.
      const w = this.main.clientWidth;
      const hgt = this.main.clientHeight;
      const l = layout(tiles.length, w, hgt, 16 / 9, GRID_GAP);
      for (const el of tiles) {
        el.style.width = `${l.tileWidth}px`;
        el.style.height = `${l.tileHeight}px`;
      }
      this.grid.dataset.cols = String(l.cols);
      this.grid.style.setProperty("--cols", String(l.cols));
      // Keep each row at `cols` tiles wide.
      this.grid.style.maxWidth = l.cols ? `${l.cols * l.tileWidth + (l.cols - 1) * GRID_GAP + 1}px` : "";
    } else {
      // A camera in the big area: the largest 16:9 that fits. A screen fills it (its canvas letterboxes).
      const main = this.stage.firstElementChild as HTMLElement | null;
      if (main?.classList.contains("tile-camera")) {
        const l = layout(1, this.stage.clientWidth, this.stage.clientHeight);
        main.style.width = `${l.tileWidth}px`;
        main.style.height = `${l.tileHeight}px`;
      } else if (main?.classList.contains("tile")) {
        main.style.width = "";
        main.style.height = "";
      }
      // The strip: 16:9 tiles as wide as the strip, shrunk (down to a minimum,
      // then scrolling) so that all of them fit its height.
      const tiles = Array.from(this.strip.children) as HTMLElement[];
      const horizontal = window.matchMedia?.("(max-width: 760px)").matches ?? false;
      const n = tiles.length;
      let height = "";
      if (!horizontal && n) {
        const w = this.strip.clientWidth;
        const avail = this.strip.clientHeight - GRID_GAP * (n - 1);
        const tileH = Math.max(96, Math.min((w * 9) / 16, avail / n));
        height = `${Math.floor(tileH)}px`;
      }
      for (const el of tiles) {
        el.style.width = "";
        el.style.height = height;
      }
    }
  }

  private renderControls(s: State, me: Member | undefined): void {
    const muted = !!me?.audio_muted;
    const camOff = !!me?.video_muted;
    const sharing = !!me?.screen_sharing;
    toggleAttr(this.btnMic, "aria-pressed", String(muted));
    toggleAttr(this.btnCamera, "aria-pressed", String(camOff));
    toggleAttr(this.btnShare, "aria-pressed", String(sharing));
    this.btnMic.classList.toggle("off", muted);
    this.btnCamera.classList.toggle("off", camOff);
    this.btnShare.classList.toggle("active", sharing);
    setIcon(this.btnMic, muted ? icons.micOff : icons.mic);
    setIcon(this.btnCamera, camOff ? icons.cameraOff : icons.camera);
    setIcon(this.btnShare, sharing ? icons.shareStop : icons.share);
    const micLabel = muted ? "Turn on microphone (Ctrl+D)" : "Turn off microphone (Ctrl+D)";
    const camLabel = camOff ? "Turn on camera (Ctrl+E)" : "Turn off camera (Ctrl+E)";
    const shareLabel = sharing ? "Stop sharing" : "Share screen";
    for (const [b, l] of [
      [this.btnMic, micLabel],
      [this.btnCamera, camLabel],
      [this.btnShare, shareLabel],
    ] as const) {
      toggleAttr(b, "aria-label", l);
      toggleAttr(b, "title", l);
    }
    const other: ViewMode = s.view === "grid" ? "speaker" : "grid";
    const layoutLabel = other === "speaker" ? "Speaker view (L)" : "Grid view (L)";
    toggleAttr(this.btnLayout, "aria-label", layoutLabel);
    toggleAttr(this.btnLayout, "title", layoutLabel);
    toggleAttr(this.btnLayout, "data-view", s.view);
    setIcon(this.btnLayout, other === "speaker" ? icons.speakerView : icons.grid);
    this.btnChat.classList.toggle("active", s.chatOpen);
    this.btnPeople.classList.toggle("active", s.participantsOpen);
    this.btnStats.classList.toggle("active", s.statsOpen);
    toggleAttr(this.btnChat, "aria-expanded", String(s.chatOpen));
    toggleAttr(this.btnPeople, "aria-expanded", String(s.participantsOpen));
    toggleAttr(this.btnStats, "aria-expanded", String(s.statsOpen));
    const unread = s.chatOpen ? 0 : s.unread;
    setText(this.chatBadge, unread > 99 ? "99+" : String(unread));
    this.chatBadge.classList.toggle("hidden", unread === 0);
    setText(this.peopleCount, String(s.members.length));
  }

  private renderPanels(s: State): void {
    if (s.chatOpen) {
      if (!this.chat) {
        this.chat = new ChatPanel(this.ctx);
        this.side.append(this.chat.el);
        this.chat.render(s);
        this.chat.focus();
      } else this.chat.render(s);
    } else if (this.chat) {
      this.chat.el.remove();
      this.chat = null;
    }
    if (s.participantsOpen) {
      if (!this.people) {
        this.people = new ParticipantsPanel(this.ctx);
        this.side.append(this.people.el);
      }
      this.people.render(s);
    } else if (this.people) {
      this.people.el.remove();
      this.people = null;
    }
    const open = s.chatOpen || s.participantsOpen || !!this.inviteCard;
    if (this.el.classList.contains("side-open") !== open) {
      this.el.classList.toggle("side-open", open);
    }
  }

  /** The call statistics, over the tiles: rendered in place, never taking focus. */
  private renderStats(s: State): void {
    if (s.statsOpen) {
      if (!this.stats) {
        this.stats = new StatsPanel(() => this.ctx.dispatch({ event: "ui.statsOpen", params: { open: false } }));
        this.main.append(this.stats.el);
      }
      this.stats.render(s);
    } else if (this.stats) {
      this.stats.el.remove();
      this.stats = null;
    }
  }

  // ---- actions ---------------------------------------------------------------

  private onShortcut(e: KeyboardEvent): void {
    if (e.defaultPrevented) return;
    // A question (confirm.ts) is open: its keys are its own.
    if (document.querySelector(".dialog-backdrop:not(.closing):not(#shortcuts-help)")) return;
    const action = shortcutAction(e);
    if (!action || (this.help && action !== "help")) return;
    e.preventDefault();
    this.run(action);
  }

  /** What a shortcut or its control button does. */
  private run(action: RoomAction): void {
    const s = this.ctx.state();
    switch (action) {
      case "layout":
        return this.ctx.dispatch({ event: "ui.view", params: { view: s.view === "grid" ? "speaker" : "grid" } });
      case "fullscreen":
        return void this.toggleFullscreen();
      case "chat":
        return this.ctx.dispatch({ event: "ui.chatOpen", params: { open: !s.chatOpen } });
      case "people":
        return this.ctx.dispatch({ event: "ui.participantsOpen", params: { open: !s.participantsOpen } });
      case "stats":
        return this.ctx.dispatch({ event: "ui.statsOpen", params: { open: !s.statsOpen } });
      case "help":
        return this.help ? this.closeHelp() : this.openHelp();
    }
  }

  private async toggleFullscreen(): Promise<void> {
    try {
      this.fullscreen = await this.ctx.api.backend.toggleFullscreen();
    } catch (e) {
      this.ctx.fail(e, "Fullscreen");
    }
    const label = this.fullscreen ? "Exit fullscreen (F)" : "Fullscreen (F)";
    toggleAttr(this.btnFullscreen, "aria-label", label);
    toggleAttr(this.btnFullscreen, "title", label);
    toggleAttr(this.btnFullscreen, "aria-pressed", String(this.fullscreen));
    setIcon(this.btnFullscreen, this.fullscreen ? icons.fullscreenExit : icons.fullscreen);
  }

  /** The shortcuts help: a modal listing every key (from `SHORTCUTS`). */
  private openHelp(): void {
    const close = h("button", { type: "button", class: "icon-btn", id: "shortcuts-close", "aria-label": "Close", title: "Close" }, svg(icons.close));
    close.addEventListener("click", () => this.closeHelp());
    const rows = SHORTCUTS.map((sc) =>
      h("tr", {}, h("td", {}, h("kbd", {}, sc.keys)), h("td", {}, sc.what)),
    );
    const dialog = h(
      "div",
      { class: "dialog dialog-wide", role: "dialog", "aria-modal": "true", "aria-labelledby": "shortcuts-title" },
      h("div", { class: "invite-head" }, h("h2", { id: "shortcuts-title", class: "dialog-title" }, "Keyboard shortcuts"), close),
      h("table", { class: "shortcuts" }, h("tbody", {}, rows)),
      h("p", { class: "dialog-text" }, "Single keys do nothing while you type in a text field."),
    );
    const backdrop = h("div", { class: "dialog-backdrop", id: "shortcuts-help" }, dialog);
    // A click beside the dialog closes it; one inside does not.
    backdrop.addEventListener("click", (e) => {
      if (e.target === backdrop) this.closeHelp();
    });
    this.help = backdrop;
    document.body.append(backdrop);
    close.focus();
  }

  private closeHelp(): void {
    this.help?.remove();
    this.help = null;
  }

  // My own mute / camera / share state is what the backend says (`member.updated`,
  // `screenShare.*` for me, once the server took the change): the controls only ask.

  toggleMic(): void {
    const me = myMember(this.ctx.state());
    if (!me) return;
    this.ctx.api.setAudioMuted(!me.audio_muted).catch((e) => this.ctx.fail(e, "Microphone"));
  }

  toggleCamera(): void {
    const me = myMember(this.ctx.state());
    if (!me) return;
    this.ctx.api.setVideoMuted(!me.video_muted).catch((e) => this.ctx.fail(e, "Camera"));
  }

  private async onShareClick(): Promise<void> {
    const me = myMember(this.ctx.state());
    if (me?.screen_sharing) return this.stopShare();
    if (this.sharePicker) return this.closeSharePicker();
    this.closeDevicePicker();
    // Screens may have come or gone; on failure the list we have will do.
    await this.ctx.refreshDevices();
    if (this.sharePicker) return;
    const picker = h("div", { id: "share-picker", class: "popover", role: "dialog", "aria-label": "Choose what to share" });
    picker.addEventListener("click", (e) => e.stopPropagation());
    this.sharePicker = picker;
    this.fillSharePicker(this.ctx.state().devices.screens);
    this.btnShare.parentElement!.append(picker);
    this.btnShare.setAttribute("aria-expanded", "true");
    (picker.querySelector(".share-option") as HTMLElement | null)?.focus();
  }

  /** The share picker's options: real screens first, the synthetic one last. */
  private fillSharePicker(screens: Device[]): void {
    const picker = this.sharePicker;
    if (!picker) return;
    this.shownScreens = screens;
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.deviceId;
    picker.replaceChildren(h("div", { class: "popover-title" }, "Share your screen"));
    if (!screens.length) picker.append(h("div", { class: "popover-empty" }, "No screens available."));
    for (const scr of screensForSharing(screens)) {
      const b = h(
        "button",
        {
          type: "button",
          class: "share-option",
          "data-device-id": scr.id,
          "data-screen-id": scr.id,
          "data-synthetic": scr.synthetic ? "true" : null,
        },
        h("span", { class: "share-thumb" }, svg(icons.monitor)),
        h("span", { class: "share-label" }, deviceLabel(scr)),
      );
      b.addEventListener("click", (e) => {
        e.stopPropagation();
        void this.startShare(scr.id);
      });
      picker.append(b);
      if (focused === scr.id) b.focus();
    }
  }

  closeSharePicker(): void {
    this.sharePicker?.remove();
    this.sharePicker = null;
    this.shownScreens = null;
    this.btnShare.setAttribute("aria-expanded", "false");
  }

  private async startShare(screenId: string): Promise<void> {
    this.closeSharePicker();
    try {
      await this.ctx.api.startShare(screenId);
    } catch (e) {
      this.ctx.fail(e, "Screen share");
    }
  }

  private async stopShare(): Promise<void> {
    try {
      await this.ctx.api.stopShare();
    } catch (e) {
      this.ctx.fail(e, "Screen share");
    }
  }

  private async toggleDevicePicker(): Promise<void> {
    if (this.devicePicker) return this.closeDevicePicker();
    this.closeSharePicker();
    await this.ctx.refreshDevices();
    if (this.devicePicker) return;
    const picker = h(
      "div",
      { id: "device-picker", class: "popover popover-wide", role: "dialog", "aria-label": "Settings" },
      h("div", { class: "popover-title" }, "Settings"),
    );
    for (const [kind, label] of DEVICE_ROWS) {
      const sel = h("select", { id: `settings-${kind}`, "data-kind": kind, "aria-label": label });
      sel.addEventListener("change", () => this.pickDevice(kind, label, sel));
      picker.append(h("label", { class: "popover-field" }, h("span", {}, label), sel));
      if (kind === "microphone") picker.append(this.settingsMeter());
      if (kind === "speaker") picker.append(this.speakerTestButton(sel));
    }
    picker.append(voiceToggles("settings", this.ctx.choices?.voice ?? VOICE_DEFAULT, (next) => this.setVoice(next)));
    picker.addEventListener("click", (e) => e.stopPropagation());
    this.devicePicker = picker;
    this.fillDevicePicker(this.ctx.state());
    this.btnSettings.parentElement!.append(picker);
    this.btnSettings.setAttribute("aria-expanded", "true");
  }

  /** The chosen microphone's level, fed by `pollLevel`. */
  private settingsMeter(): HTMLElement {
    return h(
      "div",
      { class: "meter-row popover-meter" },
      svg(icons.mic),
      h(
        "div",
        { class: "meter", id: "settings-mic-meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 },
        h("div", { class: "meter-fill" }),
      ),
    );
  }

  /** Plays the test sound on the speaker chosen in `sel`. */
  private speakerTestButton(sel: HTMLSelectElement): HTMLElement {
    const b = h("button", { type: "button", id: "settings-test-speaker", class: "btn btn-ghost btn-small" }, svg(icons.play), "Play test sound");
    b.addEventListener("click", () => playTestSound(this.ctx, b, sel.value));
    return h("div", { class: "popover-action" }, b);
  }

  /** The device picker's options from the state's list, the device in use selected and marked `data-in-use`. */
  private fillDevicePicker(s: State): void {
    const picker = this.devicePicker;
    if (!picker) return;
    this.shownDevices = { devices: s.devices, inUse: s.inUse };
    for (const [kind, label] of DEVICE_ROWS) {
      const sel = picker.querySelector<HTMLSelectElement>(`#settings-${kind}`);
      if (!sel) continue;
      const list = devicesOf(s.devices, kind);
      const inUse = s.inUse[kind];
      const using = list.some((d) => d.id === inUse);
      sel.replaceChildren();
      if (!list.length) sel.append(h("option", { value: "" }, `No ${label.toLowerCase()}`));
      // Nothing in use (none left after a disconnect): say so rather than show another device as chosen.
      else if (!using) sel.append(h("option", { value: "", disabled: true }, `No ${label.toLowerCase()} in use`));
      for (const dev of list) {
        sel.append(h("option", { value: dev.id, "data-in-use": dev.id === inUse ? "true" : null }, deviceLabel(dev)));
      }
      sel.value = using ? inUse! : "";
    }
  }

  private pickDevice(kind: InUseKind, label: string, sel: HTMLSelectElement): void {
    const dev = devicesOf(this.ctx.state().devices, kind).find((x) => x.id === sel.value);
    if (!dev) return;
    this.ctx.api
      .pickDevice(kind, dev.id)
      .then(() => {
        // `*.updated` says so too; no toast: the user made the choice.
        this.ctx.dispatch({ event: "ui.devicesInUse", params: { [kind]: dev.id } });
        if (this.ctx.choices) {
          const key = `${kind}_id` as "camera_id" | "microphone_id" | "speaker_id";
          this.ctx.choices = { ...this.ctx.choices, [key]: dev.id };
        }
      })
      .catch((e) => {
        this.ctx.fail(e, label);
        // Back to the device in use.
        this.fillDevicePicker(this.ctx.state());
      });
  }

  /** The microphone's processing, changed during the call (and remembered by the app). */
  private setVoice(next: VoiceSettings): void {
    this.ctx.api
      .setVoice(next)
      .then(() => {
        if (this.ctx.choices) this.ctx.choices = { ...this.ctx.choices, voice: next };
      })
      .catch((e) => {
        this.ctx.fail(e, "Microphone processing");
        const group = this.devicePicker?.querySelector<HTMLElement>(".voice-toggles");
        if (group) showVoice(group, this.ctx.choices?.voice ?? VOICE_DEFAULT);
      });
  }

  closeDevicePicker(): void {
    this.devicePicker?.remove();
    this.devicePicker = null;
    this.shownDevices = null;
    this.btnSettings.setAttribute("aria-expanded", "false");
  }

  /** Open pickers follow `devices.changed` and the devices in use. */
  private renderPickers(s: State): void {
    if (this.sharePicker && this.shownScreens !== s.devices.screens) this.fillSharePicker(s.devices.screens);
    const shown = this.shownDevices;
    if (this.devicePicker && (!shown || shown.devices !== s.devices || shown.inUse !== s.inUse)) this.fillDevicePicker(s);
  }

  private closePopoversOutside(e: MouseEvent): void {
    const t = e.target as Node | null;
    if (this.sharePicker && t && !this.sharePicker.contains(t)) this.closeSharePicker();
    if (this.devicePicker && t && !this.devicePicker.contains(t)) this.closeDevicePicker();
  }

  /** Escape closes the innermost thing open; returns whether it closed something. */
  escape(): boolean {
    if (this.help) {
      this.closeHelp();
      return true;
    }
    if (this.sharePicker) {
      this.closeSharePicker();
      return true;
    }
    if (this.devicePicker) {
      this.closeDevicePicker();
      return true;
    }
    if (this.ctx.state().statsOpen) {
      this.ctx.dispatch({ event: "ui.statsOpen", params: { open: false } });
      return true;
    }
    return false;
  }

  private async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.btnLeave.disabled = true;
    try {
      // The host's leaving decides whether the meeting goes on without them.
      if (this.ctx.state().invite?.hosted_address) {
        const choice = await ask(
          "Leave the meeting you are hosting?",
          "You can end it for everyone, or leave it running on this computer: others stay, newcomers can still join, and you can come back as its moderator.",
          [
            { label: "Keep hosting and leave", value: "keep" as const, id: "leave-keep-hosting" },
            { label: "End for everyone", value: "end" as const, kind: "danger", id: "leave-end-for-all" },
          ],
        );
        if (choice === null) return;
        if (choice === "end") await this.ctx.api.endMeeting();
        else await this.ctx.api.leave();
      } else {
        await this.ctx.api.leave();
      }
      // `room.left` takes us back to the lobby; don't hang here if it never
      // comes. Only this call: a quick rejoin is another member, left alone.
      const me = this.ctx.state().me;
      setTimeout(() => {
        const s = this.ctx.state();
        if (s.phase === "room" && s.me === me) this.ctx.dispatch({ event: "ui.reset", params: {} });
      }, 2000);
    } catch (e) {
      this.ctx.fail(e, "Leave");
      this.ctx.dispatch({ event: "ui.reset", params: {} });
    } finally {
      this.leaving = false;
      this.btnLeave.disabled = false;
    }
  }

  destroy(): void {
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    this.resizeObs?.disconnect();
    window.removeEventListener("resize", this.onResize);
    document.removeEventListener("click", this.onDocClick);
    document.removeEventListener("keydown", this.onKey);
    if (this.clockTimer) clearInterval(this.clockTimer);
    if (this.levelTimer) clearInterval(this.levelTimer);
    this.closeHelp();
    this.el.remove();
  }
}

// ---- chat ---------------------------------------------------------------------

class ChatPanel {
  readonly el: HTMLElement;
  private list: HTMLDivElement;
  private empty: HTMLDivElement;
  private target: HTMLSelectElement;
  private input: HTMLInputElement;
  private send: HTMLButtonElement;
  private rendered = 0;
  private targetsKey = "";
  private sending = false;

  constructor(private ctx: Ctx) {
    this.list = h("div", { class: "chat-list", role: "log", "aria-live": "polite" });
    this.empty = h("div", { class: "panel-empty" }, "No messages yet. Say hello!");
    this.target = h("select", { id: "chat-target", "aria-label": "Send to" });
    this.input = h("input", { id: "chat-input", type: "text", placeholder: "Send a message", autocomplete: "off", "aria-label": "Message" });
    this.send = h("button", { id: "chat-send", type: "submit", class: "icon-btn send-btn", "aria-label": "Send", title: "Send" }, svg(icons.send));
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close chat", title: "Close" }, svg(icons.close));
    close.addEventListener("click", () => this.ctx.dispatch({ event: "ui.chatOpen", params: { open: false } }));
    const form = h(
      "form",
      { class: "chat-form" },
      h("label", { class: "chat-to" }, h("span", {}, "To"), this.target),
      h("div", { class: "chat-compose" }, this.input, this.send),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.submit();
    });
    this.target.addEventListener("change", () => {
      form.classList.toggle("whispering", this.target.value !== "");
      this.input.placeholder = this.target.value ? "Send a private message" : "Send a message";
    });
    this.el = h(
      "aside",
      { id: "chat-panel", class: "panel", "aria-label": "Chat" },
      h("div", { class: "panel-head" }, h("h2", {}, "In-call messages"), close),
      this.list,
      form,
    );
    this.list.append(this.empty);
  }

  focus(): void {
    setTimeout(() => {
      this.list.scrollTop = this.list.scrollHeight;
      this.input.focus();
    }, 0);
  }

  render(s: State): void {
    // Whisper targets: everyone but me.
    const targets = others(s);
    const key = targets.map((m) => `${m.id}\u0000${m.name}`).join("\u0001");
    if (key !== this.targetsKey) {
      this.targetsKey = key;
      const prev = this.target.value;
      this.target.replaceChildren(h("option", { value: "" }, "Everyone"));
      for (const m of targets) this.target.append(h("option", { value: m.id }, m.name));
      this.target.value = targets.some((m) => m.id === prev) ? prev : "";
      this.target.dispatchEvent(new Event("change"));
    }
    if (s.chat.length < this.rendered) {
      this.list.replaceChildren(this.empty);
      this.rendered = 0;
    }
    if (s.chat.length > this.rendered) {
      const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
      for (const entry of s.chat.slice(this.rendered)) this.list.append(this.message(entry, s));
      this.rendered = s.chat.length;
      if (nearBottom || s.chat[s.chat.length - 1]?.mine) this.list.scrollTop = this.list.scrollHeight;
    }
    this.empty.classList.toggle("hidden", s.chat.length > 0);
  }

  private message(e: ChatEntry, s: State): HTMLElement {
    let whisperLabel = "";
    if (e.whisper) {
      // By sender, not by `s.me`: after a rejoin I am another member, my notes are still mine.
      if (e.mine && e.to === e.from) whisperLabel = "note to self";
      else if (e.mine) whisperLabel = `privately to ${e.toName ?? memberById(s, e.to)?.name ?? "someone"}`;
      else whisperLabel = "privately to you";
    }
    return h(
      "div",
      { class: `chat-message${e.whisper ? " whisper" : ""}${e.mine ? " mine" : ""}`, "data-from": e.from, ...(e.to ? { "data-to": e.to } : {}) },
      h(
        "div",
        { class: "chat-meta" },
        h("span", { class: "chat-author" }, e.mine ? "You" : e.fromName),
        whisperLabel ? h("span", { class: "chat-whisper-label" }, svg(icons.lock), whisperLabel) : null,
        h("time", { class: "chat-time" }, formatTime(e.sentAtMs)),
      ),
      h("div", { class: "chat-text" }, e.text),
    );
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || this.sending) return;
    const to = this.target.value;
    this.sending = true;
    this.send.disabled = true;
    try {
      if (to) await this.ctx.api.sendWhisper(to, text);
      else await this.ctx.api.sendChat(text);
      if (this.input.value.trim() === text) this.input.value = "";
    } catch (e) {
      this.ctx.fail(e, "Message");
    } finally {
      this.sending = false;
      this.send.disabled = false;
      this.input.focus();
    }
  }
}

// ---- participants ---------------------------------------------------------------

/** The volume slider's range: 100 plays a member as sent, 200 (the mixer's limit) twice as loud. */
const MAX_VOLUME_PERCENT = 200;
const VOLUME_STEP = 10;

class ParticipantsPanel {
  readonly el: HTMLElement;
  private list: HTMLUListElement;
  private key = "";
  /** A question (a removal, the password) waits for its answer: no second one meanwhile. */
  private confirming = false;
  /**
   * A volume slider is held: the list is not rebuilt meanwhile, since a new
   * slider under the pointer would end the drag. It catches up on release.
   */
  private holdingSlider = false;

  constructor(private ctx: Ctx) {
    this.list = h("ul", { class: "participant-list" });
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close participants", title: "Close" }, svg(icons.close));
    close.addEventListener("click", () => this.ctx.dispatch({ event: "ui.participantsOpen", params: { open: false } }));
    this.lockButton = h("button", { type: "button", id: "btn-lock-room", class: "btn btn-ghost btn-small", "aria-pressed": "false" });
    this.lockButton.addEventListener("click", () => void this.toggleLock());
    this.lockNote = h("p", { class: "room-access-note", id: "room-locked-note" });
    this.passwordButton = h("button", { type: "button", id: "btn-room-password", class: "btn btn-ghost btn-small" });
    this.passwordButton.addEventListener("click", () => void this.changePassword());
    this.passwordNote = h("p", { class: "room-access-note", id: "room-password-note" });
    this.el = h(
      "aside",
      { id: "participants-panel", class: "panel", "aria-label": "Participants" },
      h("div", { class: "panel-head" }, h("h2", {}, "People"), close),
      h(
        "div",
        { class: "room-access" },
        h("div", { class: "room-access-notes" }, this.lockNote, this.passwordNote),
        this.passwordButton,
        this.lockButton,
      ),
      this.list,
    );
  }

  private lockButton: HTMLButtonElement;
  private lockNote: HTMLParagraphElement;
  private locked = false;
  private passwordButton: HTMLButtonElement;
  private passwordNote: HTMLParagraphElement;
  private passwordProtected = false;

  /** A moderator locks the meeting (nobody new may join) or opens it again. */
  private async toggleLock(): Promise<void> {
    this.lockButton.disabled = true;
    try {
      await this.ctx.api.setRoomLock(!this.locked);
    } catch (e) {
      this.ctx.fail(e, this.locked ? "Unlock" : "Lock");
    } finally {
      this.lockButton.disabled = false;
    }
  }

  /** A moderator sets the password newcomers need, or removes it. */
  private async changePassword(): Promise<void> {
    if (this.confirming) return;
    this.confirming = true;
    const password = await this.askPassword().finally(() => (this.confirming = false));
    if (password === undefined) return;
    this.passwordButton.disabled = true;
    try {
      await this.ctx.api.setRoomPassword(password);
    } catch (e) {
      this.ctx.fail(e, "Password");
    } finally {
      this.passwordButton.disabled = false;
    }
  }

  /** The password the moderator wants: a new one, null for none, undefined when they cancel. */
  private async askPassword(): Promise<string | null | undefined> {
    if (this.passwordProtected) {
      const yes = await confirmDialog({
        title: "Remove the password?",
        text: "Newcomers can join without it again.",
        confirm: "Remove password",
      });
      return yes ? null : undefined;
    }
    const text = await askText("Set a password?", "Newcomers need it to join; everyone here now stays.", {
      label: "Meeting password",
      confirm: "Set password",
      type: "password",
    });
    // Trimmed, as the lobby sends it.
    return text?.trim() || undefined;
  }

  /** Who may join as the server said it (`room.updated`), and the controls for moderators. */
  private renderAccess(s: State, mod: boolean): void {
    this.locked = s.access.locked;
    this.lockButton.hidden = !mod;
    this.lockButton.setAttribute("aria-pressed", String(this.locked));
    setText(this.lockButton, this.locked ? "Unlock meeting" : "Lock meeting");
    this.lockNote.hidden = !this.locked;
    setText(this.lockNote, this.locked ? "Locked: nobody new can join." : "");
    this.passwordProtected = s.access.passwordProtected;
    this.passwordButton.hidden = !mod;
    setText(this.passwordButton, this.passwordProtected ? "Remove password" : "Set password");
    this.passwordNote.hidden = !this.passwordProtected;
    setText(this.passwordNote, this.passwordProtected ? "Password set: newcomers need it to join." : "");
  }

  render(s: State): void {
    const mod = isModerator(s);
    this.renderAccess(s, mod);
    if (this.holdingSlider) return;
    const key = JSON.stringify([s.me, mod, s.members, s.playback]);
    if (key === this.key) return;
    this.key = key;
    // Me first, then the others in join order.
    const me = myMember(s);
    const ordered = me ? [me, ...others(s)] : s.members;
    // The rows are new: the focus goes back to the control that had it (keyboard users keep their place).
    const focused = this.focusedControl();
    this.list.replaceChildren(
      ...ordered.map((m) => {
        const isMe = m.id === s.me;
        const playback = isMe ? null : playbackOf(s, m.id);
        const av = h("span", { class: "p-avatar" }, initials(m.name));
        av.style.setProperty("--hue", String(hueFor(m.name)));
        const mic = svg(m.audio_muted ? icons.micOff : icons.mic);
        mic.classList.add("p-icon", m.audio_muted ? "is-off" : "is-on");
        mic.setAttribute("aria-label", m.audio_muted ? "Microphone muted" : "Microphone on");
        const cam = svg(m.video_muted ? icons.cameraOff : icons.camera);
        cam.classList.add("p-icon", m.video_muted ? "is-off" : "is-on");
        let kick: HTMLButtonElement | null = null;
        if (mod && !isMe) {
          kick = h("button", { type: "button", class: "kick btn btn-danger-ghost btn-small", "data-member-id": m.id, "data-control": "kick", title: `Remove ${m.name} from the room` }, "Remove");
          kick.addEventListener("click", async () => {
            if (this.confirming) return;
            this.confirming = true;
            const yes = await confirmDialog({
              title: `Remove ${m.name}?`,
              text: `${m.name} leaves the meeting at once. They can join again with the room's link.`,
              confirm: "Remove",
              danger: true,
            });
            this.confirming = false;
            if (!yes) return;
            kick!.disabled = true;
            this.ctx.api.kick(m.id).catch((e) => {
              kick!.disabled = false;
              this.ctx.fail(e, "Remove");
            });
          });
        }
        return h(
          "li",
          {
            class: `participant${m.talking && !m.audio_muted ? " talking" : ""}${isMe ? " me" : ""}${m.reconnecting ? " reconnecting" : ""}${playback?.muted ? " muted-for-me" : ""}`,
            "data-member-id": m.id,
            "data-role": m.role,
            "data-audio-muted": String(m.audio_muted),
            "data-video-muted": String(m.video_muted),
            "data-reconnecting": String(m.reconnecting),
            "data-muted-for-me": playback ? String(playback.muted) : null,
          },
          av,
          h(
            "span",
            { class: "p-main" },
            h("span", { class: "p-name" }, m.name, isMe ? h("span", { class: "p-you" }, " (You)") : null),
            h(
              "span",
              { class: "p-role" },
              m.role === "moderator" ? "Moderator" : "Participant",
              m.screen_sharing ? " · Presenting" : "",
              m.reconnecting ? h("span", { class: "p-reconnecting" }, " · Reconnecting…") : null,
              // Why I hear nothing from them, though their microphone is on.
              playback?.muted ? h("span", { class: "p-muted-for-me" }, " · Muted for you") : null,
            ),
          ),
          h("span", { class: "p-state" }, mic, cam),
          kick,
          playback ? this.playbackControls(m, playback) : null,
        );
      }),
    );
    if (focused) this.refocus(focused);
  }

  /**
   * Another member's volume slider and "Mute for me": they change only what
   * this machine plays. They show `inEffect`, the state's; the state changes
   * once the backend took a change, and a refused one puts them back.
   */
  private playbackControls(m: Member, inEffect: Playback): HTMLElement {
    const slider = h("input", {
      type: "range",
      class: "p-volume",
      min: 0,
      max: MAX_VOLUME_PERCENT,
      step: VOLUME_STEP,
      "aria-label": `Volume for ${m.name}`,
      "data-control": "volume",
    });
    const percent = h("span", { class: "p-volume-value", "aria-hidden": "true" });
    const mute = h("button", { type: "button", class: "p-mute btn btn-ghost btn-small", "data-control": "mute" });
    const showVolume = (volume: number) => {
      slider.value = String(volume);
      slider.setAttribute("aria-valuetext", `${volume}%`);
      setText(percent, `${volume}%`);
    };
    const show = (p: Playback) => {
      showVolume(p.volume_percent);
      mute.setAttribute("aria-pressed", String(p.muted));
      setText(mute, p.muted ? "Unmute for me" : "Mute for me");
    };
    show(inEffect);

    slider.addEventListener("pointerdown", () => this.holdSlider());
    // The percentage follows the drag; the volume is sent once, when the slider is let go.
    slider.addEventListener("input", () => showVolume(Number(slider.value)));
    slider.addEventListener("change", () => {
      const now = playbackOf(this.ctx.state(), m.id);
      void this.setPlayback(m, { ...now, volume_percent: Number(slider.value) }, "Volume", show);
    });
    mute.addEventListener("click", () => {
      const now = playbackOf(this.ctx.state(), m.id);
      void this.setPlayback(m, { ...now, muted: !now.muted }, "Mute for me", show);
    });
    return h("div", { class: "p-playback" }, slider, percent, mute);
  }

  /** Asks the backend to play `m` at `next`; on a refusal, `show` puts the controls back to what is in effect. */
  private async setPlayback(m: Member, next: Playback, what: string, show: (p: Playback) => void): Promise<void> {
    try {
      await this.ctx.api.setPlayback(m.id, next);
      this.ctx.dispatch({ event: "ui.playback", params: { memberId: m.id, playback: next } });
    } catch (e) {
      this.ctx.fail(e, what);
      show(playbackOf(this.ctx.state(), m.id));
    }
  }

  private holdSlider(): void {
    this.holdingSlider = true;
    const release = () => {
      window.removeEventListener("pointerup", release);
      window.removeEventListener("pointercancel", release);
      // After the slider's own `change`, which the same release fires.
      setTimeout(() => {
        this.holdingSlider = false;
        this.render(this.ctx.state());
      }, 0);
    };
    window.addEventListener("pointerup", release);
    window.addEventListener("pointercancel", release);
  }

  /** The row and kind (`data-control`) of the list's control that has the focus, if any. */
  private focusedControl(): { memberId: string; control: string } | null {
    const el = document.activeElement;
    if (!(el instanceof HTMLElement) || !this.list.contains(el) || !el.dataset.control) return null;
    const memberId = el.closest<HTMLElement>(".participant")?.dataset.memberId;
    return memberId === undefined ? null : { memberId, control: el.dataset.control };
  }

  private refocus({ memberId, control }: { memberId: string; control: string }): void {
    const row = Array.from(this.list.children).find((li) => (li as HTMLElement).dataset.memberId === memberId);
    row?.querySelector<HTMLElement>(`[data-control="${control}"]`)?.focus();
  }
}
