// The app controller: holds the state, feeds events through the reducer,
// switches between the lobby and the room, and wires global shortcuts.

import { Api, type Backend } from "./backend";
import { confirmDialog } from "./confirm";
import type { Ctx } from "./context";
import type { AppInfo } from "./generated/AppInfo";
import type { AppStatus } from "./generated/AppStatus";
import type { Event } from "./generated/Event";
import type { Joined } from "./generated/Joined";
import type { LobbyChoices } from "./generated/LobbyChoices";
import { h } from "./dom";
import { LobbyView } from "./lobby";
import { RoomView } from "./room";
import { describeError, errorText, initialState, knownDevices, reduce, type Action, type State } from "./state";
import type { StatsReport } from "./stats";
import { ToastView } from "./toasts";
import { FrameHub } from "./video";

declare global {
  interface Window {
    __conclaveStats?: () => StatsReport;
    /** The frame path this app draws with (for the benchmark). */
    __conclaveFramePath?: string;
    __conclaveState?: () => State;
  }
}

export class App implements Ctx {
  readonly api: Api;
  readonly hub: FrameHub;
  choices: LobbyChoices | null = null;
  private s: State = initialState();
  private lobby: LobbyView | null = null;
  private room: RoomView | null = null;
  private toasts: ToastView;
  private root: HTMLElement;
  private rendering = false;
  private queued = false;

  constructor(
    readonly backend: Backend,
    readonly info: AppInfo,
    root: HTMLElement,
  ) {
    this.api = new Api(backend);
    if (info.devices) this.s = reduce(this.s, { event: "ui.devices", params: info.devices });
    this.hub = new FrameHub(info.frames_url, (url, h) => backend.openFrames(url, info.frame_path, h));
    window.__conclaveFramePath = info.frame_path;
    this.root = root;
    this.toasts = new ToastView((id) => this.dispatch({ event: "ui.dismissToast", params: { id } }));
    window.__conclaveStats = () => this.hub.stats.report();
    window.__conclaveState = () => this.s;
  }

  async start(): Promise<void> {
    this.root.replaceChildren(this.toasts.el);
    if (!this.info.debug_build) keepPageInPlace();
    // Events that arrive while the backend's state is fetched wait for it,
    // so the snapshot never overwrites something newer.
    const early: Event[] = [];
    let reattaching = true;
    await this.backend.onEvent((e) => (reattaching ? early.push(e) : this.onEvent(e)));
    await this.backend.onStatus((s) => this.onStatus(s));
    document.addEventListener("keydown", (e) => this.onKey(e));
    this.hub.start();
    try {
      await this.reattach();
    } finally {
      reattaching = false;
      for (const e of early) this.onEvent(e);
    }
    if (this.info.link_error) this.toast(`That is not a room link: ${this.info.link_error}.`, "error");
    this.render();
  }

  /**
   * Shows what the backend is doing: a call that goes on (this page was
   * reloaded) comes back as it is, and a meeting this app still hosts is
   * shown in the lobby. The backend never keeps a call the window does not show.
   */
  private async reattach(): Promise<void> {
    let state;
    try {
      state = await this.api.appState();
    } catch (e) {
      console.warn("conclave: no app state", e);
      return;
    }
    this.s = reduce(this.s, { event: "ui.hosting", params: { address: state.hosting_address } });
    const call = state.call;
    if (!call) return;
    this.choices = call.choices;
    for (const e of call.events) this.s = reduce(this.s, e);
    this.s = reduce(this.s, { event: "ui.joinedInfo", params: call.joined });
  }

  /** After a call: whether this app still hosts a meeting (the lobby says so). */
  async refreshHosting(): Promise<void> {
    try {
      const state = await this.api.appState();
      this.dispatch({ event: "ui.hosting", params: { address: state.hosting_address } });
    } catch {
      // Keep what we know.
    }
  }

  state(): State {
    return this.s;
  }

  dispatch(a: Action): void {
    this.s = reduce(this.s, a);
    this.render();
  }

  fail(e: unknown, what?: string): void {
    // A device error that names the device needs no "Camera: " in front.
    const { text, named } = describeError(e, knownDevices(this.s));
    this.dispatch({ event: "ui.toast", params: { kind: "error", text: what && !named ? `${what}: ${text}` : text } });
  }

  async refreshDevices(): Promise<void> {
    try {
      const list = await this.api.listDevices();
      if (list) this.dispatch({ event: "ui.devices", params: list });
    } catch {
      // Keep the list we have.
    }
  }

  toast(text: string, kind: "info" | "success" | "warning" | "error" = "info"): void {
    this.dispatch({ event: "ui.toast", params: { kind, text } });
  }

  private onEvent(e: Event): void {
    if (!e || typeof e !== "object" || typeof (e as { event?: unknown }).event !== "string") return;
    this.dispatch(e);
  }

  private onStatus(s: AppStatus): void {
    switch (s?.status) {
      case "mic_level":
        this.lobby?.setLevel(s.dbfs);
        return;
      case "quit_while_hosting":
        void this.askQuit();
        return;
      case "link_opened":
        if (this.lobby) {
          this.lobby.fill(s.choices, true);
          this.toast(`Link filled in: room “${s.choices.room}”`, "success");
        } else {
          const { room, place, token } = s.choices;
          this.choices = this.choices ? { ...this.choices, room, place, token, password: null } : s.choices;
          this.toast(`Leave this call to join “${s.choices.room}”; the lobby has the link.`, "info");
        }
        return;
      case "link_refused":
        this.toast(`That is not a room link: ${s.message}.`, "error");
        return;
    }
  }

  /** The window is closing while this app hosts a meeting. */
  private async askQuit(): Promise<void> {
    const quit = await confirmDialog({
      title: "Quit and end the meeting?",
      text: "This computer hosts the meeting: quitting ends it for everyone in it. Close the window again to quit anyway.",
      confirm: "End meeting and quit",
      danger: true,
    });
    try {
      if (quit) await this.api.quit();
      else await this.api.cancelQuit();
    } catch (e) {
      this.fail(e, "Quit");
    }
  }

  private onJoined = (choices: LobbyChoices, joined: Joined) => {
    // The password is never kept: back in the lobby, the field starts empty.
    this.choices = { ...choices, password: null };
    this.dispatch({ event: "ui.joinedInfo", params: joined });
  };

  private render(): void {
    // Re-entrant dispatches (a view dispatching while rendering) render once more afterwards.
    if (this.rendering) {
      this.queued = true;
      return;
    }
    this.rendering = true;
    try {
      do {
        this.queued = false;
        this.renderOnce();
      } while (this.queued);
    } finally {
      this.rendering = false;
    }
  }

  private renderOnce(): void {
    const s = this.s;
    if (s.phase === "room") {
      if (this.lobby) {
        this.lobby.destroy();
        this.lobby = null;
      }
      if (!this.room) {
        this.room = new RoomView(this);
        this.root.insertBefore(this.room.el, this.toasts.el);
        this.room.render(s);
        this.room.mounted();
      } else {
        this.room.render(s);
      }
      document.title = `${s.room} — Conclave`;
    } else {
      if (this.room) {
        this.room.destroy();
        this.room = null;
        // Left the call: the lobby says whether this app still hosts the meeting.
        void this.refreshHosting();
      }
      if (!this.lobby) {
        this.lobby = new LobbyView(this, this.onJoined);
        this.root.insertBefore(this.lobby.el, this.toasts.el);
        this.lobby.mounted();
        // The lobby is on screen once the browser has painted it.
        requestAnimationFrame(() => this.hub.stats.lobbyShown(this.info.launched_at_ms));
      }
      this.lobby.render(s);
      document.title = "Conclave";
    }
    this.toasts.render(s);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === "Escape") {
      // An open question (confirm.ts) took it: the panel behind stays open.
      if (e.defaultPrevented) return;
      if (this.room?.escape()) return e.preventDefault();
      if (this.s.chatOpen) return this.dispatch({ event: "ui.chatOpen", params: { open: false } });
      if (this.s.participantsOpen) return this.dispatch({ event: "ui.participantsOpen", params: { open: false } });
      return;
    }
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
    const k = e.key.toLowerCase();
    if (k !== "d" && k !== "e") return;
    e.preventDefault();
    if (this.room) {
      if (k === "d") this.room.toggleMic();
      else this.room.toggleCamera();
    } else if (this.lobby) {
      if (k === "d") this.lobby.toggleMic();
      else this.lobby.toggleCamera();
    }
  }

  /** For the mock: submit the lobby form as if the user clicked Join. */
  joinFromLobby(): Promise<void> | undefined {
    return this.lobby?.join();
  }
}

/**
 * A release build is an app, not a browser: no WebKit context menu (whose
 * Reload would drop the page out of a live call) outside text fields, and
 * no reload keys.
 */
function keepPageInPlace(): void {
  document.addEventListener("contextmenu", (e) => {
    const t = e.target as HTMLElement | null;
    if (!t?.closest?.("input, textarea, [contenteditable]")) e.preventDefault();
  });
  document.addEventListener(
    "keydown",
    (e) => {
      const k = e.key.toLowerCase();
      if (k === "f5" || ((e.ctrlKey || e.metaKey) && k === "r")) e.preventDefault();
    },
    true,
  );
}

export function fatal(root: HTMLElement, e: unknown): void {
  root.replaceChildren(
    h(
      "div",
      { class: "fatal" },
      h("h1", {}, "Conclave could not start"),
      h("p", {}, errorText(e)),
      h("p", { class: "hint" }, "Open this page inside the Conclave app, or add ?mock to the address to try the interface."),
    ),
  );
}
