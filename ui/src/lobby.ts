// The lobby: who I am, which room, where to meet, devices, and a self-preview.

import { deviceLabel, type Ctx } from "./context";
import { confirmDialog } from "./confirm";
import { h, setText, svg } from "./dom";
import type { Device } from "./generated/Device";
import type { DeviceList } from "./generated/DeviceList";
import type { ErrorCode } from "./generated/ErrorCode";
import type { Joined } from "./generated/Joined";
import type { LobbyChoices } from "./generated/LobbyChoices";
import type { VoiceSettings } from "./generated/VoiceSettings";
import { icons } from "./icons";
import { errorText, knownDevices, type DevicesInUse, type State } from "./state";
import { VideoTile } from "./video";
import { showVoice, VOICE_DEFAULT, voiceToggles } from "./voice";

/** Maps a dBFS level to a meter fraction: -60 dBFS and below is empty, 0 is full. */
export function meterFraction(dbfs: number): number {
  if (!Number.isFinite(dbfs)) return 0;
  return Math.max(0, Math.min(1, (dbfs + 60) / 60));
}

/** How long the test sound plays (the backend's `TEST_SOUND_LENGTH`): its button waits that long. */
const TEST_SOUND_MS = 1000;

/**
 * Plays the test sound on speaker `speakerId` (Settings and the lobby).
 * `button` is off while it plays, so that clicks cannot pile sounds up.
 */
export function playTestSound(ctx: Ctx, button: HTMLButtonElement, speakerId: string): void {
  if (!speakerId || button.disabled) return;
  button.disabled = true;
  ctx.api
    .testSpeaker(speakerId)
    .catch((e) => ctx.fail(e, "Speaker test"))
    .finally(() => setTimeout(() => (button.disabled = false), TEST_SOUND_MS));
}

/** Choices with the devices in use (when known) instead of the ones chosen earlier. */
export function withDevicesInUse(c: LobbyChoices | null, inUse: DevicesInUse): LobbyChoices | null {
  if (!c) return c;
  return {
    ...c,
    camera_id: inUse.camera ?? c.camera_id,
    microphone_id: inUse.microphone ?? c.microphone_id,
    speaker_id: inUse.speaker ?? c.speaker_id,
  };
}

/**
 * What the lobby starts with: the link the app was opened with, completed
 * from the last choices (a link names no person or devices), else the last choices.
 */
export function startChoices(link: LobbyChoices | null, last: LobbyChoices | null): LobbyChoices | null {
  if (!link) return last;
  if (!last) return link;
  return {
    ...link,
    name: link.name || last.name,
    camera_id: link.camera_id ?? last.camera_id,
    microphone_id: link.microphone_id ?? last.microphone_id,
    speaker_id: link.speaker_id ?? last.speaker_id,
    // A link says nothing of this machine's microphone.
    voice: last.voice ?? link.voice,
  };
}

/** Why the server wants a (new) join token, for the refusals that a token answers. */
const TOKEN_HINTS: Partial<Record<ErrorCode, string>> = {
  auth_required: "This server needs a join token. Ask the organiser for a new link.",
  token_invalid: "That token is not valid here. Ask the organiser for a new link.",
  token_expired: "That token has expired. Ask the organiser for a new link.",
};

/** The code of a rejected command's error, if it has one. */
function errorCode(e: unknown): ErrorCode | undefined {
  return e && typeof e === "object" && "code" in e ? (e.code as ErrorCode) : undefined;
}

export class LobbyView {
  readonly el: HTMLElement;
  private name: HTMLInputElement;
  private room: HTMLInputElement;
  private placeHost: HTMLInputElement;
  private placeServer: HTMLInputElement;
  private address: HTMLInputElement;
  private link: HTMLInputElement;
  /** The meeting's password and a join token: each shown once the server asks for it. */
  private password: HTMLInputElement;
  private passwordField: HTMLDivElement;
  private token: HTMLInputElement;
  private tokenField: HTMLDivElement;
  private tokenHint: HTMLDivElement;
  /** "Joining with the link's token", while a link's token goes unasked. */
  private linkTokenNote: HTMLParagraphElement;
  private camera: HTMLSelectElement;
  private microphone: HTMLSelectElement;
  private speaker: HTMLSelectElement;
  private joinBtn: HTMLButtonElement;
  private micBtn: HTMLButtonElement;
  private camBtn: HTMLButtonElement;
  private meterFill: HTMLDivElement;
  private preview: VideoTile;
  /** "Still hosting": shown while this app runs a meeting the user left. */
  private hostingNote: HTMLDivElement;
  private hostingText: HTMLSpanElement;
  private shownHosting: string | null = null;
  /** What a room link named (its server's certificate, a join token), for the address it came with. */
  private pinned: { address: string; fingerprint: string | null; token: string | null } | null = null;
  private audioMuted = false;
  private videoMuted = false;
  /** The microphone's processing, and its toggles. */
  private voice: VoiceSettings = VOICE_DEFAULT;
  private voiceGroup: HTMLElement;
  private joining = false;
  private destroyed = false;
  private previewRunning = false;
  /** The device list and in-use ids last applied to the pickers. */
  private shownDevices: DeviceList;
  private seenInUse: DevicesInUse;

  constructor(
    private ctx: Ctx,
    private onJoined: (choices: LobbyChoices, joined: Joined) => void,
  ) {
    const field = (id: string, label: string, input: HTMLElement, hint?: string) =>
      h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("div", { class: "hint" }, hint) : null);

    this.name = h("input", { id: "name", type: "text", autocomplete: "name", placeholder: "Your name", maxlength: 64, required: true });
    this.room = h("input", { id: "room", type: "text", autocomplete: "off", placeholder: "e.g. standup", maxlength: 64, required: true });
    this.placeHost = h("input", { id: "place-host", type: "radio", name: "place", value: "host" });
    this.placeServer = h("input", { id: "place-server", type: "radio", name: "place", value: "server" });
    this.address = h("input", {
      id: "server-address",
      type: "text",
      placeholder: "HOST:PORT, e.g. 192.168.1.20:7400",
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": "Server address",
    });
    this.link = h("input", {
      id: "room-link",
      type: "text",
      placeholder: "Paste a conclave:// room link",
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": "Room link",
    });
    this.password = h("input", { id: "room-password", type: "password", autocomplete: "off", maxlength: 256 });
    this.passwordField = field("room-password", "Meeting password", this.password, "This meeting has a password. Ask the host for it.");
    this.passwordField.hidden = true;
    this.token = h("input", {
      id: "join-token",
      type: "text",
      placeholder: "Paste the token you were given",
      autocomplete: "off",
      spellcheck: "false",
    });
    this.tokenHint = h("div", { class: "hint" });
    this.tokenField = h("div", { class: "field", hidden: true }, h("label", { for: "join-token" }, "Join token"), this.token, this.tokenHint);
    this.linkTokenNote = h("p", { class: "hint link-token-note", id: "link-token-note", hidden: true }, svg(icons.lock), "Joining with the link's token");
    this.camera = h("select", { id: "camera", "aria-label": "Camera" });
    this.microphone = h("select", { id: "microphone", "aria-label": "Microphone" });
    this.speaker = h("select", { id: "speaker", "aria-label": "Speaker" });
    const device = (sel: HTMLSelectElement, icon: string, label: string) =>
      h("label", { class: "device", title: label }, svg(icon), sel);
    this.voiceGroup = voiceToggles("lobby", this.voice, (next) => (this.voice = next));
    this.joinBtn = h("button", { id: "join", type: "submit", class: "btn btn-primary btn-large" }, "Join");

    this.micBtn = h("button", { id: "lobby-mic", type: "button", class: "round-btn", title: "Turn off microphone (Ctrl+D)" });
    this.camBtn = h("button", { id: "lobby-camera", type: "button", class: "round-btn", title: "Turn off camera (Ctrl+E)" });
    this.micBtn.addEventListener("click", () => this.toggleMic());
    this.camBtn.addEventListener("click", () => this.toggleCamera());

    this.preview = new VideoTile("self", "camera", ctx.hub, "preview-tile");
    this.meterFill = h("div", { class: "meter-fill" });
    const meter = h(
      "div",
      { class: "meter", id: "mic-meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 },
      this.meterFill,
    );

    const placeOption = (input: HTMLInputElement, icon: string, title: string, desc: string, extra?: HTMLElement) =>
      h(
        "label",
        { class: "place-option", for: input.id },
        input,
        h("span", { class: "place-icon" }, svg(icon)),
        h("span", { class: "place-text" }, h("span", { class: "place-title" }, title), h("span", { class: "place-desc" }, desc)),
        extra ?? null,
      );

    const useLink = h("button", { id: "use-link", type: "button", class: "btn btn-ghost" }, svg(icons.link), "Use link");
    useLink.addEventListener("click", () => void this.applyLink());
    this.link.addEventListener("paste", () => setTimeout(() => void this.applyLink(), 0));
    this.link.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void this.applyLink();
      }
    });
    // A password or token typed for one place is not for another.
    this.address.addEventListener("input", () => {
      if (this.address.value.trim()) this.placeServer.checked = true;
      this.forgetAccess();
      this.syncPlace();
    });
    this.address.addEventListener("focus", () => {
      if (!this.placeServer.checked) this.forgetAccess();
      this.placeServer.checked = true;
      this.syncPlace();
    });
    for (const place of [this.placeHost, this.placeServer])
      place.addEventListener("change", () => {
        this.forgetAccess();
        this.syncPlace();
      });
    this.name.addEventListener("input", () => this.updatePreviewTile());
    this.camera.addEventListener("change", () => void this.restartPreview());
    this.microphone.addEventListener("change", () => void this.restartPreview());

    this.hostingText = h("span", {});
    const endHosted = h("button", { id: "end-hosted-meeting", type: "button", class: "btn btn-danger" }, "End meeting");
    endHosted.addEventListener("click", () => void this.endHostedMeeting());
    this.hostingNote = h("div", { class: "hosting-note", id: "still-hosting", role: "status", hidden: true }, this.hostingText, endHosted);

    const form = h(
      "form",
      { class: "lobby-form", id: "lobby-form", novalidate: true },
      this.hostingNote,
      h("h1", {}, "Ready to join?"),
      h("p", { class: "lede" }, "Meet on your own network. Nothing leaves it."),
      h("div", { class: "field-row" }, field("name", "Your name", this.name), field("room", "Room", this.room)),
      h(
        "fieldset",
        { class: "place" },
        h("legend", {}, "Where to meet"),
        placeOption(this.placeHost, icons.host, "Host on this computer", "Others on your network join you here."),
        placeOption(this.placeServer, icons.server, "Join a server", "Connect to a Conclave server.", h("span", { class: "place-address" }, this.address)),
      ),
      h("div", { class: "field link-field" }, h("label", { for: "room-link" }, "Have a link?"), h("div", { class: "inline" }, this.link, useLink)),
      this.passwordField,
      this.tokenField,
      this.linkTokenNote,
      this.joinBtn,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.join();
    });

    this.el = h(
      "main",
      { id: "lobby", class: "lobby" },
      h(
        "header",
        { class: "brand" },
        svg(icons.logo),
        h("span", { class: "brand-name" }, "Conclave"),
        h("span", { class: "brand-version" }, ctx.info.version ? `v${ctx.info.version}` : ""),
      ),
      h(
        "div",
        { class: "lobby-card" },
        h(
          "section",
          { class: "lobby-preview", "aria-label": "Preview" },
          h("div", { class: "preview-frame" }, this.preview.el, h("div", { class: "preview-controls" }, this.micBtn, this.camBtn)),
          h("div", { class: "meter-row" }, svg(icons.mic), meter),
          h(
            "div",
            { class: "devices", role: "group", "aria-label": "Devices" },
            device(this.camera, icons.camera, "Camera"),
            device(this.microphone, icons.mic, "Microphone"),
            h("div", { class: "device-with-action" }, device(this.speaker, icons.speaker, "Speaker"), this.speakerTest()),
          ),
          this.voiceGroup,
        ),
        form,
      ),
    );

    const s = ctx.state();
    this.shownDevices = s.devices;
    this.seenInUse = s.inUse;
    this.fillDevices(s.devices);
    this.fill(withDevicesInUse(ctx.choices ?? startChoices(ctx.info.link_choices, ctx.info.last_choices), s.inUse));
    this.syncToggles();
    this.updatePreviewTile();
  }

  /** Plays the test sound on the chosen speaker; off while it plays, so sounds do not pile up. */
  private speakerTest(): HTMLButtonElement {
    const b = h(
      "button",
      { id: "lobby-test-speaker", type: "button", class: "icon-btn", title: "Play a test sound", "aria-label": "Play a test sound" },
      svg(icons.play),
    );
    b.addEventListener("click", () => playTestSound(this.ctx, b, this.speaker.value));
    return b;
  }

  /** Called once the element is in the document. */
  mounted(): void {
    this.preview.measure();
    if (!this.name.value) this.name.focus();
    void this.restartPreview();
    // Devices may have come or gone since start-up.
    void this.ctx.refreshDevices();
  }

  /** Keeps the pickers in step with the device list (`devices.changed`) and the devices in use. */
  render(s: State): void {
    if (this.destroyed) return;
    if (s.hosting !== this.shownHosting) {
      this.shownHosting = s.hosting;
      this.hostingNote.hidden = s.hosting === null;
      setText(
        this.hostingText,
        s.hosting
          ? `This computer still hosts your meeting at ${s.hosting}: others can stay and join. Join it again and you are its moderator.`
          : "",
      );
    }
    if (s.devices !== this.shownDevices) {
      this.shownDevices = s.devices;
      this.fillDevices(s.devices);
    }
    if (s.inUse !== this.seenInUse) {
      const before = this.seenInUse;
      this.seenInUse = s.inUse;
      this.followInUse(before, s.inUse);
    }
  }

  /** A device in use changed (a fallback after a disconnect): show it; none left turns the camera / microphone off. */
  private followInUse(before: DevicesInUse, now: DevicesInUse): void {
    let toggled = false;
    for (const [kind, sel] of [
      ["camera", this.camera],
      ["microphone", this.microphone],
      ["speaker", this.speaker],
    ] as const) {
      const id = now[kind];
      if (id === before[kind]) continue;
      if (id !== null) {
        if (Array.from(sel.options).some((o) => o.value === id)) sel.value = id;
      } else if (!this.joining && before[kind] !== null) {
        if (kind === "camera" && !this.videoMuted) toggled = this.videoMuted = true;
        if (kind === "microphone" && !this.audioMuted) toggled = this.audioMuted = true;
      }
    }
    if (toggled) {
      this.syncToggles();
      this.updatePreviewTile();
    }
  }

  private fillDevices(d: DeviceList): void {
    const fillSelect = (sel: HTMLSelectElement, list: Device[], none: string) => {
      const prev = sel.value;
      sel.replaceChildren();
      if (!list.length) sel.append(h("option", { value: "" }, none));
      for (const dev of list) sel.append(h("option", { value: dev.id }, deviceLabel(dev)));
      if (prev && list.some((x) => x.id === prev)) sel.value = prev;
    };
    fillSelect(this.camera, d.cameras, "No camera");
    fillSelect(this.microphone, d.microphones, "No microphone");
    fillSelect(this.speaker, d.speakers, "No speaker");
  }

  /**
   * Fills the form from choices (a link's, or the last ones); a password or
   * token typed for the place before goes, and a password is never filled in.
   */
  fill(c: LobbyChoices | null | undefined, onlyPlace = false): void {
    this.forgetAccess();
    if (!c) {
      this.placeHost.checked = true;
      this.syncPlace();
      return;
    }
    if (!onlyPlace || (c.name && !this.name.value.trim())) this.name.value = c.name ?? this.name.value;
    this.room.value = c.room ?? "";
    if (c.place?.mode === "server") {
      this.placeServer.checked = true;
      this.address.value = c.place.address ?? "";
      const { fingerprint } = c.place;
      this.pinned = fingerprint || c.token ? { address: this.address.value, fingerprint, token: c.token } : null;
    } else {
      this.placeHost.checked = true;
      this.pinned = null;
    }
    this.syncPlace();
    if (onlyPlace) return;
    const pick = (sel: HTMLSelectElement, id: string | null, what: string) => {
      if (!id) return;
      if (Array.from(sel.options).some((o) => o.value === id)) sel.value = id;
      else if (sel.options.length && sel.options[0].value)
        this.ctx.toast(`Your ${what} is not available; using ${sel.options[0].textContent}.`, "warning");
    };
    pick(this.camera, c.camera_id, "camera");
    pick(this.microphone, c.microphone_id, "microphone");
    pick(this.speaker, c.speaker_id, "speaker");
    this.audioMuted = !!c.audio_muted;
    this.videoMuted = !!c.video_muted;
    this.voice = c.voice ?? VOICE_DEFAULT;
    showVoice(this.voiceGroup, this.voice);
  }

  private syncPlace(): void {
    const server = this.placeServer.checked;
    this.el?.classList.toggle("place-is-server", server);
    this.address.required = server;
    // Highlight the chosen option (instead of :has(), which older WebKitGTK lacks).
    this.placeHost.closest(".place-option")?.classList.toggle("checked", !server);
    this.placeServer.closest(".place-option")?.classList.toggle("checked", server);
    this.syncTokenNote();
  }

  /** Hides the password and token fields and empties them. */
  private forgetAccess(): void {
    this.password.value = "";
    this.token.value = "";
    this.passwordField.hidden = true;
    this.tokenField.hidden = true;
    this.syncTokenNote();
  }

  /** The note shows while a link's token goes with the join and no field asks for another. */
  private syncTokenNote(): void {
    const address = this.address.value.trim();
    this.linkTokenNote.hidden = !(this.placeServer.checked && this.tokenFor(address) && this.tokenField.hidden);
  }

  /** After a refused join: the field that answers the refusal, with why, and the focus. */
  private askForAccess(e: unknown): void {
    const code = errorCode(e);
    const tokenHint = code ? TOKEN_HINTS[code] : undefined;
    let input: HTMLInputElement;
    if (code === "wrong_password") {
      this.passwordField.hidden = false;
      input = this.password;
    } else if (tokenHint) {
      setText(this.tokenHint, tokenHint);
      this.tokenField.hidden = false;
      this.syncTokenNote();
      input = this.token;
    } else {
      return;
    }
    input.focus();
    input.select();
  }

  private syncToggles(): void {
    this.micBtn.replaceChildren(svg(this.audioMuted ? icons.micOff : icons.mic));
    this.camBtn.replaceChildren(svg(this.videoMuted ? icons.cameraOff : icons.camera));
    this.micBtn.setAttribute("aria-pressed", String(this.audioMuted));
    this.camBtn.setAttribute("aria-pressed", String(this.videoMuted));
    this.micBtn.classList.toggle("off", this.audioMuted);
    this.camBtn.classList.toggle("off", this.videoMuted);
    this.micBtn.setAttribute("aria-label", this.audioMuted ? "Turn on microphone" : "Turn off microphone");
    this.camBtn.setAttribute("aria-label", this.videoMuted ? "Turn on camera" : "Turn off camera");
    this.micBtn.title = `${this.audioMuted ? "Turn on" : "Turn off"} microphone (Ctrl+D)`;
    this.camBtn.title = `${this.videoMuted ? "Turn on" : "Turn off"} camera (Ctrl+E)`;
    this.el.classList.toggle("mic-off", this.audioMuted);
    if (this.audioMuted) this.setLevel(-Infinity);
  }

  private updatePreviewTile(): void {
    const name = this.name.value.trim() || "You";
    this.preview.update({
      name,
      audioMuted: this.audioMuted,
      videoMuted: this.videoMuted,
      talking: false,
      note: this.videoMuted ? "Camera is off" : "",
    });
    this.preview.setWanted(!this.videoMuted);
  }

  toggleMic(): void {
    this.audioMuted = !this.audioMuted;
    this.syncToggles();
    this.updatePreviewTile();
  }

  toggleCamera(): void {
    this.videoMuted = !this.videoMuted;
    this.syncToggles();
    this.updatePreviewTile();
  }

  setLevel(dbfs: number): void {
    const f = this.audioMuted ? 0 : meterFraction(dbfs);
    this.meterFill.style.transform = `scaleX(${f.toFixed(3)})`;
    this.meterFill.classList.toggle("hot", f > 0.85);
    const meter = this.meterFill.parentElement;
    meter?.setAttribute("aria-valuenow", String(Math.round(f * 100)));
  }

  private async restartPreview(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.ctx.api.startPreview(this.camera.value || null, this.microphone.value || null);
      this.previewRunning = true;
    } catch (e) {
      this.ctx.fail(e, "Preview");
    }
  }

  private async endHostedMeeting(): Promise<void> {
    const yes = await confirmDialog({
      title: "End the meeting for everyone?",
      text: "Everyone still in it is told the meeting has ended, and nobody can join it any more.",
      confirm: "End meeting",
      danger: true,
    });
    if (!yes) return;
    try {
      await this.ctx.api.endMeeting();
    } catch (e) {
      this.ctx.fail(e, "End meeting");
    }
    await this.ctx.refreshHosting();
  }

  private async applyLink(): Promise<void> {
    const link = this.link.value.trim();
    if (!link) return;
    try {
      const c = await this.ctx.api.parseRoomLink(link);
      this.fill(c, true);
      this.link.value = "";
      const where = c.place.mode === "server" ? ` on ${c.place.address}` : "";
      this.ctx.toast(`Link filled in: room “${c.room}”${where}`, "success");
    } catch (e) {
      this.ctx.fail(e, "Room link");
    }
  }

  /** What a link named for this address; another address has nothing pinned. */
  private pinnedFor(address: string) {
    return this.pinned && this.pinned.address.trim() === address ? this.pinned : null;
  }

  private fingerprintFor(address: string): string | null {
    return this.pinnedFor(address)?.fingerprint ?? null;
  }

  private tokenFor(address: string): string | null {
    return this.pinnedFor(address)?.token ?? null;
  }

  choices(): LobbyChoices {
    const server = this.placeServer.checked;
    const address = this.address.value.trim();
    return {
      name: this.name.value.trim(),
      room: this.room.value.trim(),
      place: server ? { mode: "server", address, fingerprint: this.fingerprintFor(address) } : { mode: "host" },
      camera_id: this.camera.value || null,
      microphone_id: this.microphone.value || null,
      speaker_id: this.speaker.value || null,
      audio_muted: this.audioMuted,
      video_muted: this.videoMuted,
      voice: this.voice,
      password: this.password.value.trim() || null,
      // A pasted token replaces the link's (which the server refused).
      token: this.token.value.trim() || (server ? this.tokenFor(address) : null),
    };
  }

  private invalid(input: HTMLInputElement, text: string): void {
    input.classList.add("invalid");
    input.addEventListener("input", () => input.classList.remove("invalid"), { once: true });
    input.focus();
    this.ctx.toast(text, "warning");
  }

  async join(): Promise<void> {
    if (this.joining) return;
    const c = this.choices();
    if (!c.name) return this.invalid(this.name, "Enter your name.");
    if (!c.room) return this.invalid(this.room, "Enter a room name.");
    if (c.place.mode === "server" && !/^\S+:\d{1,5}$/.test(c.place.address))
      return this.invalid(this.address, "Enter the server address as HOST:PORT.");
    this.joining = true;
    this.ctx.hub.stats.joinClicked();
    this.joinBtn.disabled = true;
    this.joinBtn.textContent = "Joining…";
    this.el.classList.add("joining");
    try {
      if (this.previewRunning) {
        this.previewRunning = false;
        await this.ctx.api.stopPreview().catch(() => undefined);
      }
      // What the call starts with; `*.updated` / `*.disconnected` keep it current.
      this.ctx.dispatch({
        event: "ui.devicesInUse",
        params: { camera: c.camera_id, microphone: c.microphone_id, speaker: c.speaker_id },
      });
      const joined = await this.ctx.api.join(c);
      this.onJoined(c, joined);
    } catch (e) {
      this.ctx.toast(`Could not join: ${errorText(e, knownDevices(this.ctx.state()))}`, "error");
      if (!this.destroyed) {
        this.askForAccess(e);
        void this.restartPreview();
      }
    } finally {
      this.joining = false;
      if (!this.destroyed) {
        this.joinBtn.disabled = false;
        this.joinBtn.textContent = "Join";
        this.el.classList.remove("joining");
      }
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.preview.destroy();
    if (this.previewRunning) {
      this.previewRunning = false;
      void this.ctx.api.stopPreview().catch(() => undefined);
    }
    this.el.remove();
  }
}
