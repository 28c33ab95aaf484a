// The app's contract with its Rust side: Tauri commands, the two event
// channels, and the frame socket. `tauriBackend()` is the real one; `mock.ts`
// provides a fake for looking at the UI in a plain browser.

import type { AppInfo } from "./generated/AppInfo";
import type { AppState } from "./generated/AppState";
import type { AppStatus } from "./generated/AppStatus";
import type { DeviceKind } from "./generated/DeviceKind";
import type { DeviceList } from "./generated/DeviceList";
import type { Event } from "./generated/Event";
import type { FramePath } from "./generated/FramePath";
import type { Joined } from "./generated/Joined";
import type { LobbyChoices } from "./generated/LobbyChoices";
import type { Playback } from "./generated/Playback";
import type { VoiceSettings } from "./generated/VoiceSettings";

export const EVENT_CHANNEL = "conclave://event";
export const STATUS_CHANNEL = "conclave://status";

/** A connection carrying binary frames in and subscription text out. */
export interface FrameTransport {
  send(text: string): void;
  close(): void;
}

export interface FrameTransportHandlers {
  onOpen(): void;
  onFrame(data: ArrayBuffer): void;
  onClose(): void;
}

export interface Backend {
  invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  onEvent(cb: (e: Event) => void): Promise<() => void>;
  onStatus(cb: (s: AppStatus) => void): Promise<() => void>;
  /** The frame transport `path` uses: the socket at `url`, or the IPC channel. */
  openFrames(url: string, path: FramePath, handlers: FrameTransportHandlers): FrameTransport;
  /** Puts the window in or out of fullscreen; resolves to whether it is fullscreen now. */
  toggleFullscreen(): Promise<boolean>;
}

/** Typed wrappers of the Tauri commands (camelCase keys for Rust snake_case parameters). */
export class Api {
  constructor(readonly backend: Backend) {}
  appInfo = () => this.backend.invoke<AppInfo>("app_info");
  listDevices = () => this.backend.invoke<DeviceList>("list_devices");
  startPreview = (cameraId: string | null, microphoneId: string | null) =>
    this.backend.invoke<void>("start_preview", { cameraId, microphoneId });
  stopPreview = () => this.backend.invoke<void>("stop_preview");
  join = (choices: LobbyChoices) => this.backend.invoke<Joined>("join", { choices });
  leave = () => this.backend.invoke<void>("leave");
  /** The call the backend is in and the meeting it hosts. */
  appState = () => this.backend.invoke<AppState>("app_state");
  /** Quits the app, ending a meeting it hosts. */
  quit = () => this.backend.invoke<void>("quit");
  cancelQuit = () => this.backend.invoke<void>("cancel_quit");
  /** Ends the meeting for everyone; the app stops hosting it. */
  endMeeting = () => this.backend.invoke<void>("end_meeting");
  setAudioMuted = (muted: boolean) => this.backend.invoke<void>("set_audio_muted", { muted });
  setVoice = (settings: VoiceSettings) => this.backend.invoke<void>("set_voice", { settings });
  setVideoMuted = (muted: boolean) => this.backend.invoke<void>("set_video_muted", { muted });
  startShare = (screenId: string) => this.backend.invoke<void>("start_share", { screenId });
  stopShare = () => this.backend.invoke<void>("stop_share");
  sendChat = (text: string) => this.backend.invoke<void>("send_chat", { text });
  sendWhisper = (to: string, text: string) => this.backend.invoke<void>("send_whisper", { to, text });
  kick = (memberId: string) => this.backend.invoke<void>("kick", { memberId });
  /** How loud another member plays on this machine only ("Mute for me" included). */
  setPlayback = (memberId: string, playback: Playback) => this.backend.invoke<void>("set_playback", { memberId, playback });
  /** Locks the room (nobody new may join) or opens it; moderators only. */
  setRoomLock = (locked: boolean) => this.backend.invoke<void>("set_room_lock", { locked });
  /** Sets the password newcomers need, or removes it with null (or ""); moderators only. */
  setRoomPassword = (password: string | null) => this.backend.invoke<void>("set_room_password", { password });
  pickDevice = (kind: DeviceKind, id: string) => this.backend.invoke<void>("pick_device", { kind, id });
  parseRoomLink = (link: string) => this.backend.invoke<LobbyChoices>("parse_room_link", { link });
  /** The microphone's level now, in dBFS. */
  micLevel = () => this.backend.invoke<number>("mic_level");
  /** Plays the test sound on a speaker, beside the call's sound. */
  testSpeaker = (speakerId: string) => this.backend.invoke<void>("test_speaker", { speakerId });
}

/** The frame socket: a WebSocket to `AppInfo.frames_url`. */
export function webSocketFrames(url: string, h: FrameTransportHandlers): FrameTransport {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => h.onOpen();
  ws.onmessage = (e: MessageEvent) => {
    if (e.data instanceof ArrayBuffer) h.onFrame(e.data);
  };
  ws.onclose = () => h.onClose();
  ws.onerror = () => {
    /* onclose follows */
  };
  return {
    send(text: string) {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close() {
      ws.onclose = null;
      ws.close();
    },
  };
}

type TauriCore = typeof import("@tauri-apps/api/core");

/**
 * The frame path `channel-rgba-2d`: frames come on a Tauri IPC channel, and
 * the same text the socket would carry goes back as the `frame_channel_text`
 * command. Opening another (after a reload) replaces the backend's old one.
 */
export function channelFrames(core: TauriCore, h: FrameTransportHandlers): FrameTransport {
  let open = true;
  const channel = new core.Channel<ArrayBuffer>();
  channel.onmessage = (data) => {
    if (open && data instanceof ArrayBuffer) h.onFrame(data);
  };
  core.invoke("open_frame_channel", { channel }).then(
    () => open && h.onOpen(),
    (e) => {
      console.warn("conclave: frame channel failed", e);
      if (open) h.onClose();
    },
  );
  return {
    send(text: string) {
      if (!open) return;
      core.invoke<boolean>("frame_channel_text", { text }).catch((e) => console.warn("conclave: frame channel", e));
    },
    close() {
      open = false;
    },
  };
}

export async function tauriBackend(): Promise<Backend> {
  const core = await import("@tauri-apps/api/core");
  const events = await import("@tauri-apps/api/event");
  return {
    invoke: <T>(cmd: string, args?: Record<string, unknown>) => core.invoke<T>(cmd, args),
    onEvent: (cb) => events.listen<Event>(EVENT_CHANNEL, (e) => cb(e.payload)),
    onStatus: (cb) => events.listen<AppStatus>(STATUS_CHANNEL, (e) => cb(e.payload)),
    openFrames: (url, path, h) => (path === "channel-rgba-2d" ? channelFrames(core, h) : webSocketFrames(url, h)),
    toggleFullscreen: async () => {
      const { getCurrentWindow } = await import("@tauri-apps/api/window");
      const win = getCurrentWindow();
      const on = !(await win.isFullscreen());
      await win.setFullscreen(on);
      return on;
    },
  };
}

/** Fullscreen for the page itself (the mock in a plain browser). */
export async function toggleDocumentFullscreen(): Promise<boolean> {
  if (document.fullscreenElement) await document.exitFullscreen();
  else await document.documentElement.requestFullscreen();
  return !!document.fullscreenElement;
}
