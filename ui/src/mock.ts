// A fake backend for looking at the UI in a plain browser (development only).
// Used only when `window.__TAURI_INTERNALS__` is absent and the URL has `?mock`:
//   ?mock              the lobby
//   ?mock=room         joined to a room with five members, one sharing a screen
//   &members=N         N members (1 to 25) instead of five
//   &share=0           nobody shares a screen
//   &panel=chat|people|both|stats  open panels (or the call statistics) after joining
//   &invite=1          keep the "meeting ready" card
//   &theme=dark|light  force a theme
//   &renderer=2d       force the Canvas2D fallback
//   &drop=resume|new|member  a few seconds after joining, my connection to the
//                      room server drops and resumes, or comes back as a new
//                      member; or Grace's drops for a while
//   &slow=uplink|downlink  a few seconds after joining, my link is slow for a while
// In a call, "the server" rates everyone's connection (`member.quality`) and
// sends `call.stats` every 2 s.
// Joining room "secret" asks for a password (letmein), room "members" for a join token.
// Frames are solid-colour I420 images made here, in the real wire format.

import { VOICE_DEFAULT } from "./voice";
import type { App } from "./app";
import { toggleDocumentFullscreen, type Backend, type FrameTransport, type FrameTransportHandlers } from "./backend";
import { encodeFrame, rgbToYuv, type VideoKind } from "./frames";
import type { AppInfo } from "./generated/AppInfo";
import type { AppStatus } from "./generated/AppStatus";
import type { CallStats } from "./generated/CallStats";
import type { ConnectionQuality } from "./generated/ConnectionQuality";
import type { DeviceList } from "./generated/DeviceList";
import type { ErrorInfo } from "./generated/ErrorInfo";
import type { Event } from "./generated/Event";
import type { FramePath } from "./generated/FramePath";
import type { FrameSubscription } from "./generated/FrameSubscription";
import type { LinkDirection } from "./generated/LinkDirection";
import type { LobbyChoices } from "./generated/LobbyChoices";
import type { Member } from "./generated/Member";
import type { Playback } from "./generated/Playback";
import type { MemberField } from "./generated/MemberField";
import type { TrackKind } from "./generated/TrackKind";
import type { TrackStats } from "./generated/TrackStats";
import { member, track } from "./fixtures";

export interface Mock {
  backend: Backend;
  afterStart(app: App): Promise<void>;
}

const devices: DeviceList = {
  cameras: [
    { id: "synthetic:pattern", label: "Test pattern", kind: "camera", synthetic: true },
    { id: "v4l2:/dev/video0", label: "Integrated Webcam", kind: "camera", synthetic: false },
  ],
  microphones: [
    { id: "synthetic:tone", label: "Tone 440 Hz", kind: "microphone", synthetic: true },
    { id: "pulse:alsa_input.analog", label: "Built-in Audio Analog Stereo", kind: "microphone", synthetic: false },
  ],
  speakers: [
    { id: "pulse:alsa_output.analog", label: "Built-in Audio Analog Stereo", kind: "speaker", synthetic: false },
    { id: "null", label: "Discard (no output)", kind: "speaker", synthetic: true },
  ],
  screens: [
    { id: "synthetic:screen", label: "Synthetic screen", kind: "screen", synthetic: true },
    { id: "x11:0", label: "Screen 1 (1920×1080)", kind: "screen", synthetic: false },
  ],
};

const COLOURS: Record<string, [number, number, number]> = {
  self: [38, 120, 110],
  m2: [120, 72, 160],
  m3: [48, 96, 170],
  m4: [170, 96, 48],
  m5: [60, 140, 80],
  "m3:screen": [232, 236, 242],
};

const EXTRA_NAMES = [
  "Barbara Liskov", "Donald Knuth", "Frances Allen", "Edsger Dijkstra", "Radia Perlman",
  "Ken Thompson", "Hedy Lamarr", "Dennis Ritchie", "Katherine Johnson", "John McCarthy",
  "Adele Goldberg", "Tim Berners-Lee", "Shafi Goldwasser", "Niklaus Wirth", "Sophie Wilson",
  "Bjarne Stroustrup", "Jean Sammet", "Guido van Rossum", "Annie Easley", "Leslie Lamport",
];

/** Commands that go to the room server: they fail while the connection to it is down. */
const SERVER_COMMANDS = new Set([
  "set_audio_muted", "set_video_muted", "start_share", "stop_share", "send_chat", "send_whisper",
  "kick", "set_room_lock", "set_room_password",
]);

function err(code: ErrorInfo["code"], message: string): ErrorInfo {
  return { code, message };
}

/** The qualities handed out in join order. */
const QUALITIES: ConnectionQuality[] = ["excellent", "good", "excellent", "poor", "good"];

/** What a camera sends per simulcast layer (0 full, 1 half, 2 quarter). */
const CAMERA_LAYERS = [
  { width: 1280, height: 720, fps: 30, kbps: 1500 },
  { width: 640, height: 360, fps: 30, kbps: 500 },
  { width: 320, height: 180, fps: 15, kbps: 150 },
];

/** A figure give or take 10 %, to one decimal. */
const wobble = (v: number) => Math.round(v * (0.9 + Math.random() * 0.2) * 10) / 10;

/** One track's statistics over the last period; `video` for a camera or screen. */
function trackStats(
  memberId: string | null,
  kind: TrackKind,
  direction: LinkDirection,
  kbps: number,
  video: { width: number; height: number; fps: number; layer: number } | null = null,
): TrackStats {
  return track({
    member_id: memberId,
    kind,
    direction,
    kbps: wobble(kbps),
    loss_percent: Math.random() < 0.7 ? 0 : Math.round(Math.random() * 20) / 10,
    jitter_ms: direction === "downlink" ? wobble(kind === "microphone" ? 4 : 9) : null,
    // A camera sends at most its frame rate.
    ...(video && { width: video.width, height: video.height, fps: Math.min(video.fps, wobble(video.fps)), layer: video.layer }),
  });
}

export function createMock(params: URLSearchParams): Mock {
  const mode = params.get("mock") || "lobby";
  const panel = params.get("panel");
  const count = Math.max(1, Math.min(25, Number(params.get("members") ?? 5) || 5));
  const share = params.get("share") !== "0";
  const eventCbs: Array<(e: Event) => void> = [];
  const statusCbs: Array<(s: AppStatus) => void> = [];
  let me = "m1";
  let myName = "You";
  let room = "";
  let members: Member[] = [];
  let level = -40;
  let levelTimer: ReturnType<typeof setInterval> | null = null;
  let talkTimer: ReturnType<typeof setInterval> | null = null;
  let statsTimer: ReturnType<typeof setInterval> | null = null;
  /** Each member's connection quality, as "the server" last said it. */
  const qualities = new Map<string, ConnectionQuality>();
  /** My own talking, as last told to the UI. */
  let myTalking = false;
  /** Who may join the room, as "the server" says in `room.updated`. */
  let access = { locked: false, password_protected: false };
  /** My connection to "the server" is down (`&drop=`): commands fail, as the real client's do. */
  let reconnecting = false;
  let dropTimers: Array<ReturnType<typeof setTimeout>> = [];
  let rejoins = 0;

  const emit = (e: Event) => setTimeout(() => eventCbs.forEach((cb) => cb(e)), 0);
  const myself = () => members.find((m) => m.id === me);
  /** Applies a change to my own member and tells the UI, as the real backend does once the server accepted it. */
  const updateMe = (patch: Partial<Member>, field: MemberField) => {
    const mine = myself();
    if (!mine) return;
    const next = { ...mine, ...patch };
    members = members.map((m) => (m.id === me ? next : m));
    emit({ event: "member.updated", params: { member: next, updated: [field] } });
  };
  const status = (s: AppStatus) => statusCbs.forEach((cb) => cb(s));
  const now = () => Date.now();

  const info: AppInfo = {
    version: "0.1.0",
    frames_url: "mock://frames",
    frame_path: "websocket-i420-webgl",
    devices,
    last_choices: {
      name: "Ada Lovelace",
      room: "design-review",
      place: { mode: "host" },
      camera_id: "synthetic:pattern",
      microphone_id: "synthetic:tone",
      speaker_id: null,
      audio_muted: false,
      video_muted: false,
      voice: VOICE_DEFAULT,
      password: null,
      token: null,
    },
    link_choices: null,
    link_error: null,
    debug_build: true,
    launched_at_ms: Date.now(),
  };

  const later = (ms: number, f: () => void) => dropTimers.push(setTimeout(f, ms));

  const setQuality = (id: string, quality: ConnectionQuality) => {
    qualities.set(id, quality);
    emit({ event: "member.quality", params: { member_id: id, quality } });
  };

  /** Received videos: the others' cameras at half size, a shared screen in full. */
  const receivedVideos = () =>
    members
      .filter((m) => m.id !== me)
      .flatMap((m) => [
        ...(m.video_muted ? [] : [{ member_id: m.id, kind: "camera" as const, layer: 1 }]),
        ...(m.screen_sharing ? [{ member_id: m.id, kind: "screen" as const, layer: 0 }] : []),
      ]);

  /** `call.stats`: my microphone and each layer of my camera sent, and everything received. */
  function callStats(): CallStats {
    const mine = myself();
    const tracks: TrackStats[] = [trackStats(null, "microphone", "uplink", 32)];
    if (mine && !mine.video_muted) CAMERA_LAYERS.forEach((l, layer) => tracks.push(trackStats(null, "camera", "uplink", l.kbps, { ...l, layer })));
    if (mine?.screen_sharing) tracks.push(trackStats(null, "screen", "uplink", 900, { width: 1920, height: 1080, fps: 5, layer: 0 }));
    for (const m of members) if (m.id !== me && !m.audio_muted) tracks.push(trackStats(m.id, "microphone", "downlink", 32));
    for (const v of receivedVideos()) {
      const size = v.kind === "screen" ? { width: 1920, height: 1080, fps: 5, kbps: 900 } : CAMERA_LAYERS[v.layer];
      tracks.push(trackStats(v.member_id, v.kind, "downlink", size.kbps, { ...size, layer: v.layer }));
    }
    return { period_ms: BigInt(2000), rtt_ms: wobble(28), uplink_estimate_kbps: Math.round(wobble(2600)), tracks };
  }

  /** Everyone's quality and the layers I receive, then `call.stats` every 2 s; Grace's quality changes now and then. */
  function startStats(): void {
    members.forEach((m, i) => setQuality(m.id, QUALITIES[i % QUALITIES.length]));
    emit({ event: "video.layers", params: { layers: receivedVideos() } });
    if (statsTimer) clearInterval(statsTimer);
    let tick = 0;
    const report = () => {
      emit({ event: "call.stats", params: { stats: callStats() } });
      if (++tick % 5 === 0 && qualities.has("m2")) setQuality("m2", qualities.get("m2") === "good" ? "excellent" : "good");
    };
    report();
    statsTimer = setInterval(report, 2000);
  }

  /** My link is slow for a while (`&slow=`), 5 s after joining. */
  function simulateSlowLink(direction: string | null): void {
    if (direction !== "uplink" && direction !== "downlink") return;
    const slow = (on: boolean) => emit({ event: "link.slow", params: { direction, slow: on, estimate_kbps: on ? 350 : 2600 } });
    later(5000, () => slow(true));
    later(20_000, () => slow(false));
  }

  /** A dropped connection, as `&drop=` asks, 4 s after joining. The real client's attempts come at once, after 0.3 s, 1.2 s, then every 2 s. */
  function simulateDrop(kind: string | null): void {
    if (kind === "member") {
      const setGrace = (flag: boolean) => {
        const grace = members.find((m) => m.id === "m2");
        if (!grace) return;
        const next = { ...grace, reconnecting: flag };
        members = members.map((m) => (m.id === next.id ? next : m));
        emit({ event: "member.updated", params: { member: next, updated: ["reconnecting"] } });
        // Nothing arrives from a member who is reconnecting.
        setQuality(grace.id, flag ? "lost" : "good");
      };
      later(4000, () => setGrace(true));
      later(12_000, () => setGrace(false));
      return;
    }
    if (kind !== "resume" && kind !== "new") return;
    const attempts = [0, 300, 1200, 3200, 5200];
    later(4000, () => (reconnecting = true));
    attempts.forEach((at, i) => later(4000 + at, () => emit({ event: "room.reconnecting", params: { room, attempt: i + 1 } })));
    later(4000 + 6000, () => {
      reconnecting = false;
      if (kind === "resume") return emit({ event: "room.reconnected", params: { room, resumed: true } });
      // The server forgot me: remote tracks end, and I join again as a new member on a new media connection.
      const others = members.filter((m) => m.id !== me);
      for (const m of others) for (const track of ["camera", "microphone"] as const) emit({ event: "track.ended", params: { member_id: m.id, kind: track } });
      emit({ event: "room.reconnected", params: { room, resumed: false } });
      const old = myself();
      me = `m1-${++rejoins}`;
      members = [...members.filter((m) => m.id !== old?.id), member(me, myName, { role: "moderator", audio_muted: !!old?.audio_muted, video_muted: !!old?.video_muted })];
      emit({ event: "room.joined", params: { room, member_id: me, role: "moderator", members } });
      emit({ event: "media.connected", params: {} });
      for (const m of others) for (const track of ["camera", "microphone"] as const) emit({ event: "track.started", params: { member_id: m.id, kind: track } });
      startStats();
    });
  }

  async function invoke<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    await new Promise((r) => setTimeout(r, 30));
    if (reconnecting && SERVER_COMMANDS.has(cmd)) throw err("invalid_state", "reconnecting to the room server; try again in a moment");
    switch (cmd) {
      case "app_info":
        return info as T;
      case "list_devices":
        return devices as T;
      case "app_state":
        // The mock keeps no call across a reload.
        return { call: null, hosting_address: null } as T;
      case "start_preview":
        if (levelTimer) clearInterval(levelTimer);
        levelTimer = setInterval(() => {
          level = Math.max(-70, Math.min(-3, level + (Math.random() - 0.5) * 18));
          status({ status: "mic_level", dbfs: level });
        }, 80);
        return undefined as T;
      case "mic_level":
        level = Math.max(-70, Math.min(-3, level + (Math.random() - 0.5) * 18));
        return level as T;
      case "test_speaker":
        return undefined as T;
      case "stop_preview":
        if (levelTimer) clearInterval(levelTimer);
        levelTimer = null;
        return undefined as T;
      case "parse_room_link": {
        const link = String(args.link ?? "");
        const m = /^conclave:\/\/([^/]+:\d+)\/([^#]+)(?:#(.*))?$/.exec(link);
        if (!m) throw err("invalid_message", "That is not a conclave://HOST:PORT/ROOM link.");
        const fragment = new URLSearchParams(m[3] ?? "");
        const c: LobbyChoices = {
          ...info.last_choices!,
          room: decodeURIComponent(m[2]),
          place: { mode: "server", address: m[1], fingerprint: fragment.get("fp") },
          token: fragment.get("token"),
        };
        return c as T;
      }
      case "join": {
        const c = args.choices as LobbyChoices;
        if (c.room.toLowerCase() === "full") throw err("room_full", "The room is full (25 members).");
        if (c.place.mode === "server" && c.place.address.startsWith("0.")) throw err("connection_failed", `Could not reach ${c.place.address}.`);
        // Rooms that show the lobby's password and token fields.
        if (c.room.toLowerCase() === "secret" && c.password !== "letmein") throw err("wrong_password", "The room needs a password (try “letmein”).");
        if (c.room.toLowerCase() === "members" && !c.token) throw err("auth_required", "The server lets in only holders of a join token.");
        access = { locked: false, password_protected: c.room.toLowerCase() === "secret" };
        room = c.room;
        myName = c.name;
        me = "m1";
        members = [
          member("m1", c.name, { role: "moderator", audio_muted: c.audio_muted, video_muted: c.video_muted }),
          member("m2", "Grace Hopper", { talking: true }),
          member("m3", "Linus Torvalds", { screen_sharing: share }),
          member("m4", "Margaret Hamilton", { audio_muted: true, video_muted: true }),
          member("m5", "Alan Turing", { audio_muted: true }),
        ];
        for (let i = members.length; i < count; i++) {
          members.push(member(`m${i + 1}`, EXTRA_NAMES[(i - 5) % EXTRA_NAMES.length], { audio_muted: i % 3 === 0, video_muted: i % 4 === 0 }));
        }
        members = members.slice(0, Math.max(1, count));
        emit({ event: "room.joined", params: { room, member_id: me, role: "moderator", members } });
        emit({ event: "room.updated", params: { room, ...access } });
        emit({ event: "media.connected", params: {} });
        for (const m of members.slice(1)) {
          emit({ event: "track.started", params: { member_id: m.id, kind: "camera" } });
          emit({ event: "track.started", params: { member_id: m.id, kind: "microphone" } });
        }
        if (share && count >= 3) {
          emit({ event: "screenShare.started", params: { member_id: "m3" } });
          emit({ event: "track.started", params: { member_id: "m3", kind: "screen" } });
        }
        const t = now();
        emit({ event: "chat.message", params: { from: "m2", from_name: "Grace Hopper", text: "Morning! Can everyone hear me?", sent_at_ms: BigInt(t - 120_000) } });
        emit({ event: "chat.message", params: { from: "m3", from_name: "Linus Torvalds", text: "Yes. Sharing the build dashboard now.", sent_at_ms: BigInt(t - 90_000) } });
        emit({ event: "chat.whisper", params: { from: "m5", from_name: "Alan Turing", to: me, text: "Ping me after this, I have a question about the cipher.", sent_at_ms: BigInt(t - 30_000) } });
        emit({ event: "chat.message", params: { from: me, from_name: myName, text: "Looks good to me 👍", sent_at_ms: BigInt(t - 10_000) } });
        if (talkTimer) clearInterval(talkTimer);
        let talking = true;
        myTalking = false;
        talkTimer = setInterval(() => {
          talking = !talking;
          emit({ event: "member.talking", params: { member_id: "m2", talking } });
          // I talk while Grace does not, when my microphone is on (my own talking comes back as an event too).
          const mine = !talking && !myself()?.audio_muted;
          if (mine !== myTalking) {
            myTalking = mine;
            emit({ event: "member.talking", params: { member_id: me, talking: mine } });
          }
        }, 2500);
        simulateDrop(params.get("drop"));
        simulateSlowLink(params.get("slow"));
        startStats();
        return { room_link: `conclave://192.168.1.20:7400/${encodeURIComponent(room)}`, hosted_address: c.place.mode === "host" ? "192.168.1.20:7400" : null, link_is_local: false } as T;
      }
      case "leave":
      case "end_meeting":
        if (talkTimer) clearInterval(talkTimer);
        if (statsTimer) clearInterval(statsTimer);
        statsTimer = null;
        qualities.clear();
        dropTimers.forEach(clearTimeout);
        dropTimers = [];
        reconnecting = false;
        members = [];
        emit({ event: "room.left", params: { room, reason: cmd === "end_meeting" ? "ended" : "left" } });
        emit({ event: "media.disconnected", params: {} });
        return undefined as T;
      case "set_voice":
        if (!members.length) throw err("not_joined", "Not in a room.");
        return undefined as T;
      // My own changes come back as events once "the server" took them, as from the real backend.
      case "set_audio_muted":
        if (!members.length) throw err("not_joined", "Not in a room.");
        if (Boolean(args.muted) && myTalking) {
          myTalking = false;
          emit({ event: "member.talking", params: { member_id: me, talking: false } });
        }
        updateMe({ audio_muted: Boolean(args.muted) }, "audio_muted");
        return undefined as T;
      case "set_video_muted":
        if (!members.length) throw err("not_joined", "Not in a room.");
        updateMe({ video_muted: Boolean(args.muted) }, "video_muted");
        return undefined as T;
      case "pick_device":
        return undefined as T;
      case "start_share":
        if (!members.length) throw err("not_joined", "Not in a room.");
        if (!devices.screens.some((s) => s.id === args.screenId)) throw err("invalid_state", "No such screen.");
        if (myself()?.screen_sharing) throw err("invalid_state", "Already sharing.");
        updateMe({ screen_sharing: true }, "screen_sharing");
        emit({ event: "screenShare.started", params: { member_id: me } });
        return undefined as T;
      case "stop_share":
        if (!myself()?.screen_sharing) return undefined as T;
        updateMe({ screen_sharing: false }, "screen_sharing");
        emit({ event: "screenShare.ended", params: { member_id: me } });
        return undefined as T;
      case "send_chat":
        emit({ event: "chat.message", params: { from: me, from_name: myName, text: String(args.text), sent_at_ms: BigInt(now()) } });
        return undefined as T;
      case "send_whisper":
        emit({ event: "chat.whisper", params: { from: me, from_name: myName, to: String(args.to), text: String(args.text), sent_at_ms: BigInt(now()) } });
        return undefined as T;
      case "kick": {
        const id = String(args.memberId);
        const m = members.find((x) => x.id === id);
        if (!m) throw err("member_not_found", "That member is not in the room.");
        members = members.filter((x) => x.id !== id);
        qualities.delete(id);
        if (m.screen_sharing) {
          emit({ event: "screenShare.ended", params: { member_id: id } });
          emit({ event: "track.ended", params: { member_id: id, kind: "screen" } });
        }
        emit({ event: "track.ended", params: { member_id: id, kind: "camera" } });
        emit({ event: "member.left", params: { member_id: id, name: m.name, reason: "kicked" } });
        emit({ event: "memberList.updated", params: { members } });
        return undefined as T;
      }
      case "set_playback": {
        // Local to this machine, as in the real backend: no event, and the mock plays no sound to change.
        const id = String(args.memberId);
        const volume = (args.playback as Playback | undefined)?.volume_percent ?? -1;
        if (!members.length) throw err("not_joined", "Not in a room.");
        if (id === me || !members.some((x) => x.id === id)) throw err("member_not_found", `no member ${id} in this room`);
        if (volume < 0 || volume > 200) throw err("invalid_message", `a volume of ${volume}% is outside the 0 to 200% the mixer plays`);
        return undefined as T;
      }
      case "set_room_lock":
      case "set_room_password":
        if (!members.length) throw err("not_joined", "Not in a room.");
        if (cmd === "set_room_lock") access = { ...access, locked: Boolean(args.locked) };
        else access = { ...access, password_protected: Boolean(args.password) };
        emit({ event: "room.updated", params: { room, ...access } });
        return undefined as T;
      default:
        throw err("internal", `mock: unknown command ${cmd}`);
    }
  }

  /** A local "socket": makes frames for whatever the UI subscribes to. */
  function openFrames(_url: string, _path: FramePath, h: FrameTransportHandlers): FrameTransport {
    let timer: ReturnType<typeof setInterval> | null = null;
    let tiles: FrameSubscription["tiles"] = [];
    setTimeout(() => h.onOpen(), 10);
    const tick = () => {
      for (const t of tiles) {
        const key = t.kind === "screen" ? `${t.member_id}:screen` : t.member_id;
        const n = Number(t.member_id.slice(1)) || 0;
        const rgb = COLOURS[key] ?? [60 + ((n * 47) % 120), 70 + ((n * 83) % 100), 90 + ((n * 29) % 110)];
        const m = members.find((x) => x.id === t.member_id);
        if (m?.video_muted && t.kind === "camera") continue;
        // Cap the mock's frame size to keep it cheap.
        const scale = Math.min(1, 640 / t.width);
        const w = Math.max(2, Math.round((t.width * scale) / 2) * 2);
        const hh = Math.max(2, Math.round((t.height * scale) / 2) * 2);
        h.onFrame(encodeFrame(t.member_id, t.kind as VideoKind, w, hh, performance.timeOrigin + performance.now() - 4, rgbToYuv(...rgb)));
      }
    };
    return {
      send(text: string) {
        const sub = JSON.parse(text) as Partial<FrameSubscription>;
        if (!sub.tiles) return; // a "drawn" answer: the mock does not pace itself by them
        tiles = sub.tiles;
        if (!timer) timer = setInterval(tick, 1000 / 15);
        tick();
      },
      close() {
        if (timer) clearInterval(timer);
        timer = null;
      },
    };
  }

  const backend: Backend = {
    invoke,
    onEvent: async (cb) => {
      eventCbs.push(cb);
      return () => eventCbs.splice(eventCbs.indexOf(cb), 1);
    },
    onStatus: async (cb) => {
      statusCbs.push(cb);
      return () => statusCbs.splice(statusCbs.indexOf(cb), 1);
    },
    openFrames,
    toggleFullscreen: toggleDocumentFullscreen,
  };

  return {
    backend,
    async afterStart(app: App) {
      if (mode !== "room") return;
      await app.joinFromLobby();
      await new Promise((r) => setTimeout(r, 50));
      if (panel === "chat" || panel === "both") app.dispatch({ event: "ui.chatOpen", params: { open: true } });
      if (panel === "people" || panel === "both") app.dispatch({ event: "ui.participantsOpen", params: { open: true } });
      if (panel === "stats") app.dispatch({ event: "ui.statsOpen", params: { open: true } });
      if (params.get("invite") !== "1") document.querySelector<HTMLButtonElement>("#invite-card .icon-btn")?.click();
    },
  };
}
