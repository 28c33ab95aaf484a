// The app controller: holds the state, feeds events through the reducer,
// switches between the lobby and the room, and wires global shortcuts.

import { Api, type Backend } from "./backend";
import type { Ctx } from "./context";
import type { AppInfo } from "./generated/AppInfo";
import type { AppStatus } from "./generated/AppStatus";
import type { Event } from "./generated/Event";
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
    await this.backend.onEvent((e) => this.onEvent(e));
    await this.backend.onStatus((s) => this.onStatus(s));
    document.addEventListener("keydown", (e) => this.onKey(e));
    this.hub.start();
    this.render();
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
    if (s?.status === "mic_level") this.lobby?.setLevel(s.dbfs);
  }

  private onJoined = (choices: LobbyChoices, joined: { room_link: string; hosted_address: string | null }) => {
    this.choices = choices;
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
