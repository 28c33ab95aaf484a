// The whole UI in jsdom against a fake backend: the selectors the end-to-end
// test relies on, the commands each control sends, and the frame subscription.

import { VOICE_DEFAULT } from "./voice";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./app";
import type { Backend, FrameTransportHandlers } from "./backend";
import { hueFor } from "./dom";
import { encodeFrame, encodeRgbaFrame } from "./frames";
import type { FramePath } from "./generated/FramePath";
import type { LobbyChoices } from "./generated/LobbyChoices";
import type { AppInfo } from "./generated/AppInfo";
import type { AppStatus } from "./generated/AppStatus";
import type { Event } from "./generated/Event";
import type { Member } from "./generated/Member";
import type { MemberField } from "./generated/MemberField";
import type { TrackStats } from "./generated/TrackStats";
import { callStats, last, member, track } from "./fixtures";
import { createMock } from "./mock";



class FakeBackend implements Backend {
  calls: Array<[string, Record<string, unknown> | undefined]> = [];
  events: Array<(e: Event) => void> = [];
  status: Array<(s: AppStatus) => void> = [];
  sent: string[] = [];
  frames: FrameTransportHandlers | null = null;
  replies: Record<string, (args?: Record<string, unknown>) => unknown> = {
    app_state: () => ({ call: null, hosting_address: null }),
  };

  async invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    this.calls.push([cmd, args]);
    const r = this.replies[cmd];
    return (r ? r(args) : undefined) as T;
  }
  async onEvent(cb: (e: Event) => void) {
    this.events.push(cb);
    return () => undefined;
  }
  async onStatus(cb: (s: AppStatus) => void) {
    this.status.push(cb);
    return () => undefined;
  }
  openFrames(_url: string, _path: FramePath, h: FrameTransportHandlers) {
    this.frames = h;
    setTimeout(() => h.onOpen(), 0);
    return { send: (t: string) => this.sent.push(t), close: () => undefined };
  }
  fullscreen = false;
  async toggleFullscreen() {
    this.fullscreen = !this.fullscreen;
    return this.fullscreen;
  }
  emit(e: Event) {
    for (const cb of this.events) cb(e);
  }
  called(cmd: string) {
    return this.calls.filter(([c]) => c === cmd).map(([, a]) => a);
  }
}

const info: AppInfo = {
  version: "1.2.3",
  frames_url: "ws://127.0.0.1:1/frames?token=t",
  frame_path: "websocket-i420-webgl",
  last_choices: {
    name: "Grace",
    room: "standup",
    place: { mode: "server", address: "10.0.0.5:7400", fingerprint: null },
    camera_id: "cam2",
    microphone_id: null,
    speaker_id: null,
    audio_muted: false,
    video_muted: false,
    voice: VOICE_DEFAULT,
    password: null,
    token: null,
  },
  link_choices: null,
  link_error: null,
  debug_build: false,
  launched_at_ms: 0,
  devices: {
    cameras: [
      { id: "cam1", label: "Test pattern", kind: "camera", synthetic: true },
      { id: "cam2", label: "Webcam", kind: "camera", synthetic: false },
    ],
    microphones: [{ id: "mic1", label: "Tone", kind: "microphone", synthetic: true }],
    speakers: [],
    screens: [
      { id: "scr1", label: "Synthetic screen", kind: "screen", synthetic: true },
      { id: "scr2", label: "Screen 1", kind: "screen", synthetic: false },
    ],
  },
};

const flush = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};
const $ = <T extends Element = HTMLElement>(sel: string) => document.querySelector<T>(sel);
const $$ = (sel: string) => Array.from(document.querySelectorAll<HTMLElement>(sel));

function click(sel: string) {
  const el = $(sel);
  if (!el) throw new Error(`no ${sel}`);
  el.click();
}

/** Whether the lobby field holding `sel` is shown. */
function fieldShown(sel: string): boolean {
  return !$(sel)!.closest<HTMLElement>(".field")!.hidden;
}

/** The choices the last `join` sent. */
function lastJoin(): LobbyChoices {
  return (last(backend.called("join")) as { choices: LobbyChoices }).choices;
}

/** The next joins are refused with `code`; then Join is clicked. */
async function joinRefused(code: string, message: string) {
  backend.replies.join = () => {
    throw { code, message };
  };
  click("#join");
  await flush();
}

function type(sel: string, text: string) {
  const el = $<HTMLInputElement>(sel)!;
  el.value = text;
  el.dispatchEvent(new window.Event("input", { bubbles: true }));
}

const ada = member("m1", "Ada", { role: "moderator" });
const grace = member("m2", "Grace");
const linus = member("m3", "Linus", { audio_muted: true, video_muted: true });

let backend: FakeBackend;
let app: App;

async function start(i: AppInfo = info) {
  document.body.innerHTML = '<div id="app"></div>';
  backend = new FakeBackend();
  app = new App(backend, i, document.getElementById("app")!);
  await app.start();
  await flush();
}

async function joinAs(me: string, role: "moderator" | "participant", members: Member[]) {
  backend.replies.join = () => {
    backend.emit({ event: "room.joined", params: { room: "standup", member_id: me, role, members } });
    return { room_link: "conclave://10.0.0.5:7400/standup", hosted_address: null, link_is_local: false };
  };
  click("#join");
  await flush();
}

/**
 * Makes the fake backend answer my own mute / camera / share commands as the
 * real one does: once "the server" took the change, `member.updated` for me
 * (and `screenShare.*` for a share), then the command resolves.
 */
function echoOwnChanges(me: Member) {
  let mine = { ...me };
  const update = (patch: Partial<Member>, field: MemberField) => {
    mine = { ...mine, ...patch };
    backend.emit({ event: "member.updated", params: { member: mine, updated: [field] } });
  };
  backend.replies.set_audio_muted = (a) => update({ audio_muted: Boolean(a?.muted) }, "audio_muted");
  backend.replies.set_video_muted = (a) => update({ video_muted: Boolean(a?.muted) }, "video_muted");
  backend.replies.start_share = () => {
    update({ screen_sharing: true }, "screen_sharing");
    backend.emit({ event: "screenShare.started", params: { member_id: mine.id } });
  };
  backend.replies.stop_share = () => {
    update({ screen_sharing: false }, "screen_sharing");
    backend.emit({ event: "screenShare.ended", params: { member_id: mine.id } });
  };
}

/** Every picture put on a 2D canvas in this test. */
let putImages: Array<{ data: Uint8ClampedArray; width: number; height: number }> = [];

beforeEach(() => {
  putImages = [];
  // jsdom has no canvas: give it a 2D context that records drawing, and ImageData.
  vi.stubGlobal(
    "ImageData",
    class {
      constructor(
        readonly data: Uint8ClampedArray,
        readonly width: number,
        readonly height: number,
      ) {}
    },
  );
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function (this: HTMLCanvasElement, kind: string) {
    if (kind !== "2d") return null;
    return {
      createImageData: (w: number, h: number) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
      putImageData: (image: (typeof putImages)[number]) => putImages.push(image),
    } as unknown as CanvasRenderingContext2D;
  } as typeof HTMLCanvasElement.prototype.getContext);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  document.body.innerHTML = "";
});

describe("lobby", () => {
  it("is pre-filled from the last choices and starts the preview", async () => {
    await start();
    expect($("#lobby")).not.toBeNull();
    expect($("#room-view")).toBeNull();
    expect($<HTMLInputElement>("#name")!.value).toBe("Grace");
    expect($<HTMLInputElement>("#room")!.value).toBe("standup");
    expect($<HTMLInputElement>("#place-server")!.checked).toBe(true);
    expect($<HTMLInputElement>("#place-host")!.checked).toBe(false);
    expect($<HTMLInputElement>("#server-address")!.value).toBe("10.0.0.5:7400");
    expect($<HTMLSelectElement>("#camera")!.value).toBe("cam2");
    expect($$("#camera option").map((o) => o.textContent)).toEqual(["Test pattern (synthetic)", "Webcam"]);
    expect(backend.called("start_preview")).toEqual([{ cameraId: "cam2", microphoneId: "mic1" }]);
    const preview = $(".tile[data-member-id='self'][data-kind='camera']")!;
    expect(preview.querySelector("[data-testid='tile-canvas']")).not.toBeNull();
    expect(document.title).toBe("Conclave");
  });

  it("prefers the link the app was opened with, completed from the last choices", async () => {
    await start({
      ...info,
      link_choices: { ...info.last_choices!, name: "", camera_id: null, room: "from-link", place: { mode: "server", address: "10.1.1.1:9", fingerprint: null } },
    });
    expect($<HTMLInputElement>("#room")!.value).toBe("from-link");
    expect($<HTMLInputElement>("#server-address")!.value).toBe("10.1.1.1:9");
    expect($<HTMLInputElement>("#name")!.value).toBe("Grace");
    expect($<HTMLSelectElement>("#camera")!.value).toBe("cam2");
  });

  it("chat and participants panels can be open together", async () => {
    await start();
    await joinAs("m2", "participant", [ada, grace]);
    click("#btn-chat");
    click("#btn-participants");
    expect($("#chat-panel")).not.toBeNull();
    expect($("#participants-panel")).not.toBeNull();
    expect($("#btn-chat")!.getAttribute("aria-expanded")).toBe("true");
  });

  it("shows the mic level", async () => {
    await start();
    backend.status.forEach((cb) => cb({ status: "mic_level", dbfs: -30 }));
    expect($("#mic-meter")!.getAttribute("aria-valuenow")).toBe("50");
  });

  it("joins with the chosen place and toggles", async () => {
    await start();
    click("#place-host");
    click("#lobby-mic");
    click("#lobby-noise-suppression");
    type("#name", "  Grace H  ");
    await joinAs("m2", "participant", [ada, grace]);
    expect(backend.called("stop_preview").length).toBe(1);
    expect(backend.called("join")[0]).toEqual({
      choices: {
        name: "Grace H",
        room: "standup",
        place: { mode: "host" },
        camera_id: "cam2",
        microphone_id: "mic1",
        speaker_id: null,
        audio_muted: true,
        video_muted: false,
        voice: { ...VOICE_DEFAULT, noise_suppression: false },
        password: null,
        token: null,
      },
    });
    expect($("#lobby")).toBeNull();
    expect($("#room-view")).not.toBeNull();
  });

  it("turns the microphone's processing off and on during the call", async () => {
    await start();
    await joinAs("m2", "participant", [ada, grace]);
    click("#btn-settings");
    await flush();
    const echo = $<HTMLInputElement>("#settings-echo-cancellation")!;
    expect(echo.checked).toBe(true);
    click("#settings-echo-cancellation");
    await flush();
    expect(backend.called("set_voice")).toEqual([{ settings: { ...VOICE_DEFAULT, echo_cancellation: false } }]);
    // Refused: the toggle shows what is in use again.
    backend.replies.set_voice = () => {
      throw { code: "not_joined", message: "Not in a room." };
    };
    click("#settings-noise-suppression");
    await flush();
    expect($<HTMLInputElement>("#settings-noise-suppression")!.checked).toBe(true);
    expect($<HTMLInputElement>("#settings-echo-cancellation")!.checked).toBe(false);
  });

  it("fills the form from a pasted room link", async () => {
    await start();
    backend.replies.parse_room_link = () => ({ ...info.last_choices!, room: "retro", place: { mode: "server", address: "192.168.1.9:7000", fingerprint: null } });
    type("#room-link", "conclave://192.168.1.9:7000/retro");
    click("#use-link");
    await flush();
    expect(backend.called("parse_room_link")).toEqual([{ link: "conclave://192.168.1.9:7000/retro" }]);
    expect($<HTMLInputElement>("#room")!.value).toBe("retro");
    expect($<HTMLInputElement>("#server-address")!.value).toBe("192.168.1.9:7000");
  });

  it("a failed join shows a toast and stays in the lobby", async () => {
    await start();
    backend.replies.join = () => {
      throw { code: "room_full", message: "The room is full" };
    };
    click("#join");
    await flush();
    expect($("#lobby")).not.toBeNull();
    expect($$(".toast").map((t) => t.textContent)).toContain("Could not join: The room is full");
    expect(($("#join") as HTMLButtonElement).disabled).toBe(false);
    // The preview comes back.
    expect(backend.called("start_preview").length).toBe(2);
  });

  it("a join refused for its password shows the password field; the next join sends the password", async () => {
    await start();
    expect(fieldShown("#room-password")).toBe(false);
    await joinRefused("wrong_password", "The room needs a password");
    expect(lastJoin().password).toBeNull();
    expect($$(".toast").map((t) => t.textContent)).toContain("Could not join: The room needs a password");
    expect(fieldShown("#room-password")).toBe(true);
    expect($("#room-password")!.getAttribute("type")).toBe("password");
    expect($("#room-password")!.closest(".field")!.textContent).toContain("Ask the host for it.");
    expect(document.activeElement).toBe($("#room-password"));
    expect(fieldShown("#join-token")).toBe(false);
    type("#room-password", " sesame ");
    await joinAs("m2", "participant", [ada, grace]);
    expect(lastJoin()).toMatchObject({ password: "sesame", token: null });
    expect($("#room-view")).not.toBeNull();
  });

  it("a server that wants a token shows the token field, saying why; the next join sends the pasted token", async () => {
    await start();
    await joinRefused("auth_required", "This server needs a join token");
    expect(fieldShown("#join-token")).toBe(true);
    expect(fieldShown("#room-password")).toBe(false);
    expect($("#join-token")!.closest(".field")!.textContent).toContain("needs a join token");
    expect(document.activeElement).toBe($("#join-token"));
    backend.replies.join = () => {
      throw { code: "token_expired", message: "The token has expired" };
    };
    type("#join-token", "eyJ.old.sig\n");
    click("#join");
    await flush();
    expect(lastJoin().token).toBe("eyJ.old.sig");
    expect($("#join-token")!.closest(".field")!.textContent).toContain("expired");
    type("#join-token", "eyJ.new.sig");
    await joinAs("m2", "participant", [ada, grace]);
    expect(lastJoin()).toMatchObject({ token: "eyJ.new.sig", password: null });
  });

  it("joins with the token of the link it was opened with, without asking; a refused one asks", async () => {
    const place = { mode: "server", address: "10.9.9.9:7880", fingerprint: null } as const;
    await start({ ...info, link_choices: { ...info.last_choices!, room: "retro", place, token: "eyJ.link.sig" } });
    expect(fieldShown("#join-token")).toBe(false);
    expect($("#link-token-note")!.hidden).toBe(false);
    expect($("#link-token-note")!.textContent).toBe("Joining with the link's token");
    await joinRefused("token_invalid", "The token is not valid");
    expect(lastJoin()).toMatchObject({ room: "retro", token: "eyJ.link.sig", password: null });
    // Refused: the field asks for another, instead of the note.
    expect(fieldShown("#join-token")).toBe(true);
    expect($("#join-token")!.closest(".field")!.textContent).toContain("not valid here");
    expect($("#link-token-note")!.hidden).toBe(true);
  });

  it("another address or another link drops the password and token of the place before", async () => {
    await start();
    await joinRefused("wrong_password", "The room needs a password");
    type("#room-password", "sesame");
    backend.replies.parse_room_link = () => ({
      ...info.last_choices!,
      room: "retro",
      place: { mode: "server", address: "192.168.1.9:7000", fingerprint: null },
      token: "eyJ.link.sig",
    });
    type("#room-link", "conclave://192.168.1.9:7000/retro#token=eyJ.link.sig");
    click("#use-link");
    await flush();
    expect(fieldShown("#room-password")).toBe(false);
    expect($<HTMLInputElement>("#room-password")!.value).toBe("");
    expect($("#link-token-note")!.hidden).toBe(false);
    // The link's token is for the link's server only.
    type("#server-address", "10.1.1.1:7880");
    expect($("#link-token-note")!.hidden).toBe(true);
    click("#join");
    await flush();
    expect(lastJoin()).toMatchObject({ place: { address: "10.1.1.1:7880" }, password: null, token: null });
  });

  it("asks for a name before joining", async () => {
    await start();
    type("#name", " ");
    click("#join");
    await flush();
    expect(backend.called("join")).toEqual([]);
    expect($$(".toast").length).toBe(1);
  });
});

describe("room", () => {
  beforeEach(async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace, linus]);
  });

  it("shows a tile per member, the self view and the title", () => {
    expect(document.title).toBe("standup — Conclave");
    const tiles = $$(".tile[data-member-id][data-kind]");
    expect(tiles.map((t) => `${t.dataset.memberId}:${t.dataset.kind}`)).toEqual(["self:camera", "m2:camera", "m3:camera"]);
    expect($(".tile[data-member-id='m2'] .tile-name")!.textContent).toBe("Grace");
    expect($(".tile[data-member-id='self'] .tile-name")!.textContent).toBe("Ada (You)");
    const l = $(".tile[data-member-id='m3']")!;
    expect(l.classList.contains("audio-muted")).toBe(true);
    expect(l.classList.contains("video-off")).toBe(true);
    expect($$(".tile [data-testid='tile-canvas']").length).toBe(3);
  });

  it("highlights a talking member", () => {
    backend.emit({ event: "member.talking", params: { member_id: "m2", talking: true } });
    expect($(".tile[data-member-id='m2']")!.classList.contains("talking")).toBe(true);
  });

  it("highlights my own tile from my own member.talking, not while muted", () => {
    const self = () => $(".tile[data-member-id='self']")!;
    backend.emit({ event: "member.talking", params: { member_id: "m1", talking: true } });
    expect(self().classList.contains("talking")).toBe(true);
    expect($(".tile[data-member-id='m2']")!.classList.contains("talking")).toBe(false);
    backend.emit({ event: "member.updated", params: { member: { ...ada, audio_muted: true, talking: true }, updated: ["audio_muted"] } });
    expect(self().classList.contains("talking")).toBe(false);
    backend.emit({ event: "member.updated", params: { member: { ...ada, talking: true }, updated: ["audio_muted"] } });
    expect(self().classList.contains("talking")).toBe(true);
    backend.emit({ event: "member.talking", params: { member_id: "m1", talking: false } });
    expect(self().classList.contains("talking")).toBe(false);
  });

  it("mic and camera buttons toggle, with aria-pressed and Ctrl+D / Ctrl+E", async () => {
    echoOwnChanges(ada);
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("false");
    click("#btn-mic");
    await flush();
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("true");
    expect(backend.called("set_audio_muted")).toEqual([{ muted: true }]);
    const ev = new KeyboardEvent("keydown", { key: "d", ctrlKey: true, cancelable: true });
    document.dispatchEvent(ev);
    expect(ev.defaultPrevented).toBe(true);
    await flush();
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("false");
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "e", ctrlKey: true, cancelable: true }));
    await flush();
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("true");
    expect(backend.called("set_video_muted")).toEqual([{ muted: true }]);
    expect($(".tile[data-member-id='self']")!.classList.contains("video-off")).toBe(true);
    expect(backend.called("set_audio_muted")).toEqual([{ muted: true }, { muted: false }]);
  });

  it("my mute follows the backend's member.updated for me, not the click", async () => {
    click("#btn-mic");
    await flush();
    // The command went through, but nothing said my state changed: no guess.
    expect(backend.called("set_audio_muted")).toEqual([{ muted: true }]);
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".tile[data-member-id='self']")!.classList.contains("audio-muted")).toBe(false);
    backend.emit({ event: "member.updated", params: { member: { ...ada, audio_muted: true }, updated: ["audio_muted"] } });
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("true");
    expect($(".tile[data-member-id='self']")!.classList.contains("audio-muted")).toBe(true);
    click("#btn-participants");
    expect($(".participant[data-member-id='m1']")!.dataset.audioMuted).toBe("true");
    // The next click asks for the opposite of what the backend said.
    click("#btn-mic");
    await flush();
    expect(backend.called("set_audio_muted")).toEqual([{ muted: true }, { muted: false }]);
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("true");
  });

  it("my camera follows member.updated for me, and the server's member list", async () => {
    click("#btn-camera");
    await flush();
    expect(backend.called("set_video_muted")).toEqual([{ muted: true }]);
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".tile[data-member-id='self']")!.classList.contains("video-off")).toBe(false);
    backend.emit({ event: "member.updated", params: { member: { ...ada, video_muted: true }, updated: ["video_muted"] } });
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("true");
    expect($(".tile[data-member-id='self']")!.classList.contains("video-off")).toBe(true);
    // The list the server sends is the truth for me too.
    backend.emit({ event: "memberList.updated", params: { members: [ada, grace, linus] } });
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".tile[data-member-id='self']")!.classList.contains("video-off")).toBe(false);
  });

  it("a refused mute changes nothing and shows one toast", async () => {
    backend.replies.set_audio_muted = () => {
      throw { code: "internal", message: "no microphone" };
    };
    click("#btn-mic");
    await flush();
    expect($("#btn-mic")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".tile[data-member-id='self']")!.classList.contains("audio-muted")).toBe(false);
    expect($$(".toast").map((t) => t.textContent)).toEqual(["Microphone: no microphone"]);
  });

  it("a refused camera change changes nothing and shows one toast", async () => {
    backend.replies.set_video_muted = () => {
      throw { code: "not_joined", message: "not in a room" };
    };
    click("#btn-camera");
    await flush();
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("false");
    expect($$(".toast").map((t) => t.textContent)).toEqual(["Camera: not in a room"]);
  });

  it("chat: sends to everyone or whispers, shows messages, counts unread", async () => {
    backend.emit({ event: "chat.message", params: { from: "m2", from_name: "Grace", text: "hello", sent_at_ms: 1n } });
    expect($("#chat-unread")!.textContent).toBe("1");
    expect($("#chat-unread")!.classList.contains("hidden")).toBe(false);
    click("#btn-chat");
    expect($("#chat-panel")).not.toBeNull();
    expect($("#chat-unread")!.classList.contains("hidden")).toBe(true);
    expect($$("#chat-target option").map((o) => [o.getAttribute("value"), o.textContent])).toEqual([
      ["", "Everyone"],
      ["m2", "Grace"],
      ["m3", "Linus"],
    ]);
    type("#chat-input", "hi all");
    click("#chat-send");
    await flush();
    expect(backend.called("send_chat")).toEqual([{ text: "hi all" }]);
    expect($<HTMLInputElement>("#chat-input")!.value).toBe("");
    const target = $<HTMLSelectElement>("#chat-target")!;
    target.value = "m3";
    target.dispatchEvent(new window.Event("change"));
    type("#chat-input", "psst");
    click("#chat-send");
    await flush();
    expect(backend.called("send_whisper")).toEqual([{ to: "m3", text: "psst" }]);
    backend.emit({ event: "chat.whisper", params: { from: "m1", from_name: "Ada", to: "m3", text: "psst", sent_at_ms: 2n } });
    const msgs = $$(".chat-message");
    expect(msgs.map((m) => [m.dataset.from, m.classList.contains("whisper")])).toEqual([
      ["m2", false],
      ["m1", true],
    ]);
    expect(msgs[1].textContent).toContain("privately to Linus");
    click("#btn-chat");
    expect($("#chat-panel")).toBeNull();
  });

  it("participants: roles, mute state, and Kick for a moderator", async () => {
    click("#btn-participants");
    expect($("#participants-panel")).not.toBeNull();
    const rows = $$(".participant[data-member-id]");
    expect(rows.map((r) => r.dataset.memberId)).toEqual(["m1", "m2", "m3"]);
    expect($(".participant[data-member-id='m1'] .kick")).toBeNull();
    expect($(".participant[data-member-id='m1']")!.textContent).toContain("Moderator");
    expect($(".participant[data-member-id='m3']")!.dataset.audioMuted).toBe("true");
    click(".participant[data-member-id='m3'] .kick");
    await flush();
    expect(backend.called("kick")).toEqual([]); // nothing before the confirmation
    expect($("#confirm")!.textContent).toContain("Remove Linus?");
    // While it asks, another row's Remove does not open a second question.
    click(".participant[data-member-id='m2'] .kick");
    expect($$("#confirm").length).toBe(1);
    click("#confirm-cancel");
    await flush();
    expect($("#confirm")).toBeNull();
    expect(backend.called("kick")).toEqual([]);
    // Confirmed with a double click: one removal.
    click(".participant[data-member-id='m3'] .kick");
    await flush();
    const ok = $("#confirm-ok")!;
    ok.click();
    ok.click();
    await flush();
    expect(backend.called("kick")).toEqual([{ memberId: "m3" }]);
    backend.emit({ event: "member.left", params: { member_id: "m3", name: "Linus", reason: "kicked" } });
    expect($(".participant[data-member-id='m3']")).toBeNull();
    expect($(".tile[data-member-id='m3']")).toBeNull();
    expect($$(".toast").some((t) => t.textContent === "Linus was removed from the room")).toBe(true);
  });

  describe("participants: another member's volume and Mute for me", () => {
    const row = (id: string) => $(`.participant[data-member-id='${id}']`)!;
    const slider = (name: string) => $<HTMLInputElement>(`#participants-panel input[aria-label='Volume for ${name}']`)!;
    const muteButton = (id: string) => row(id).querySelector<HTMLButtonElement>(".p-mute")!;
    const shownVolume = (id: string) => row(id).querySelector(".p-volume-value")!.textContent;
    /** Drags `name`'s slider to `percent` (an `input` per step), then lets go (`change`). */
    function slideVolume(name: string, percent: number, letGo = true) {
      const el = slider(name);
      el.value = String(percent);
      el.dispatchEvent(new window.Event("input", { bubbles: true }));
      if (letGo) el.dispatchEvent(new window.Event("change", { bubbles: true }));
    }

    beforeEach(() => click("#btn-participants"));

    it("each other member's row has a volume slider at 100% and Mute for me; mine has neither", () => {
      for (const [id, name] of [["m2", "Grace"], ["m3", "Linus"]]) {
        const s = slider(name);
        expect(row(id).contains(s)).toBe(true);
        expect([s.type, s.min, s.max, s.step, s.value]).toEqual(["range", "0", "200", "10", "100"]);
        expect(shownVolume(id)).toBe("100%");
        expect(muteButton(id).textContent).toBe("Mute for me");
        expect(muteButton(id).getAttribute("aria-pressed")).toBe("false");
      }
      expect(row("m1").querySelector("input[type='range'], .p-mute")).toBeNull();
      expect(slider("Ada")).toBeNull();
    });

    it("moving the slider shows the percentage, and sends the volume once let go", async () => {
      slideVolume("Grace", 50, false);
      expect(shownVolume("m2")).toBe("50%");
      expect(backend.called("set_playback")).toEqual([]);
      slideVolume("Grace", 50);
      await flush();
      expect(backend.called("set_playback")).toEqual([{ memberId: "m2", playback: { volume_percent: 50, muted: false } }]);
      expect(slider("Grace").value).toBe("50");
      expect(shownVolume("m2")).toBe("50%");
      expect(app.state().playback).toEqual({ m2: { volume_percent: 50, muted: false } });
    });

    it("Mute for me keeps the volume, says so in the row, and keeps the focus; pressing again unmutes", async () => {
      slideVolume("Grace", 150);
      await flush();
      muteButton("m2").focus();
      muteButton("m2").click();
      await flush();
      expect(last(backend.called("set_playback"))).toEqual({ memberId: "m2", playback: { volume_percent: 150, muted: true } });
      expect(muteButton("m2").getAttribute("aria-pressed")).toBe("true");
      expect(muteButton("m2").textContent).toBe("Unmute for me");
      expect(row("m2").textContent).toContain("Muted for you");
      expect(row("m2").dataset.mutedForMe).toBe("true");
      // The list was rebuilt: the keyboard is still on the button.
      expect(document.activeElement).toBe(muteButton("m2"));
      // Only for me: nothing says Grace's microphone is off.
      expect(row("m2").dataset.audioMuted).toBe("false");
      expect(row("m3").textContent).not.toContain("Muted for you");

      muteButton("m2").click();
      await flush();
      expect(last(backend.called("set_playback"))).toEqual({ memberId: "m2", playback: { volume_percent: 150, muted: false } });
      expect(muteButton("m2").getAttribute("aria-pressed")).toBe("false");
      expect(muteButton("m2").textContent).toBe("Mute for me");
      expect(row("m2").textContent).not.toContain("Muted for you");
    });

    it("a refused change shows an error, and the control goes back to what is in effect", async () => {
      slideVolume("Grace", 70);
      await flush();
      backend.replies.set_playback = () => {
        throw { code: "member_not_found", message: "no member m2 in this room" };
      };
      slideVolume("Grace", 120);
      await flush();
      expect($$(".toast").map((t) => t.textContent)).toEqual(["Volume: no member m2 in this room"]);
      expect(slider("Grace").value).toBe("70");
      expect(shownVolume("m2")).toBe("70%");
      muteButton("m2").click();
      await flush();
      expect($$(".toast").map((t) => t.textContent)).toContain("Mute for me: no member m2 in this room");
      expect(muteButton("m2").getAttribute("aria-pressed")).toBe("false");
      expect(row("m2").textContent).not.toContain("Muted for you");
      expect(app.state().playback).toEqual({ m2: { volume_percent: 70, muted: false } });
    });

    it("the list is not rebuilt under a held slider, and catches up when it is let go", async () => {
      const held = slider("Grace");
      held.dispatchEvent(new window.Event("pointerdown", { bubbles: true }));
      slideVolume("Grace", 30, false);
      backend.emit({ event: "member.talking", params: { member_id: "m2", talking: true } });
      expect(slider("Grace")).toBe(held);
      expect(row("m2").classList.contains("talking")).toBe(false);
      expect(shownVolume("m2")).toBe("30%");
      window.dispatchEvent(new window.Event("pointerup"));
      held.dispatchEvent(new window.Event("change", { bubbles: true }));
      await flush();
      expect(backend.called("set_playback")).toEqual([{ memberId: "m2", playback: { volume_percent: 30, muted: false } }]);
      expect(slider("Grace")).not.toBe(held);
      expect(row("m2").classList.contains("talking")).toBe(true);
      expect(slider("Grace").value).toBe("30");
    });

    it("a member who leaves takes their volume along", async () => {
      slideVolume("Grace", 50);
      muteButton("m3").click();
      await flush();
      expect(Object.keys(app.state().playback)).toEqual(["m2", "m3"]);
      backend.emit({ event: "member.left", params: { member_id: "m2", name: "Grace", reason: "left" } });
      expect(app.state().playback).toEqual({ m3: { volume_percent: 100, muted: true } });
      // Back, as a new member: as sent again.
      backend.emit({ event: "member.joined", params: { member: member("m4", "Grace") } });
      expect(slider("Grace").value).toBe("100");
    });
  });

  it("share: picker lists screens, starts and stops sharing", async () => {
    echoOwnChanges(ada);
    click("#btn-share");
    await flush();
    expect($("#share-picker")).not.toBeNull();
    // Real screens first, the synthetic one last.
    expect($$("#share-picker .share-option").map((b) => b.dataset.deviceId)).toEqual(["scr2", "scr1"]);
    expect($$(".share-option[data-screen-id]").map((b) => b.dataset.screenId)).toEqual(["scr2", "scr1"]);
    click(".share-option[data-screen-id='scr2']");
    await flush();
    expect(backend.called("start_share")).toEqual([{ screenId: "scr2" }]);
    expect($("#share-picker")).toBeNull();
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("true");
    expect($(".presenting-card")).not.toBeNull();
    click("#btn-share");
    await flush();
    expect(backend.called("stop_share")).toEqual([undefined]);
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".presenting-card")).toBeNull();
  });

  it("my share shows once member.updated / screenShare.started for me arrive, and ends with screenShare.ended", async () => {
    click("#btn-share");
    await flush();
    click(".share-option[data-screen-id='scr2']");
    await flush();
    expect(backend.called("start_share")).toEqual([{ screenId: "scr2" }]);
    // Accepted, but not yet said: not presenting.
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".presenting-card")).toBeNull();
    backend.emit({ event: "member.updated", params: { member: { ...ada, screen_sharing: true }, updated: ["screen_sharing"] } });
    backend.emit({ event: "screenShare.started", params: { member_id: "m1" } });
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("true");
    expect($(".presenting-card")).not.toBeNull();
    // A click while sharing stops; the share ends when the backend says so.
    click("#btn-share");
    await flush();
    expect(backend.called("stop_share")).toEqual([undefined]);
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("true");
    backend.emit({ event: "screenShare.ended", params: { member_id: "m1" } });
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".presenting-card")).toBeNull();
  });

  it("a refused share changes nothing and shows one toast", async () => {
    backend.replies.start_share = () => {
      throw { code: "device_busy", message: "Screen 1 is busy" };
    };
    click("#btn-share");
    await flush();
    click(".share-option[data-screen-id='scr2']");
    await flush();
    expect($("#btn-share")!.getAttribute("aria-pressed")).toBe("false");
    expect($(".presenting-card")).toBeNull();
    expect($$(".toast").map((t) => t.textContent)).toEqual(["Screen “Screen 1” is in use by another program."]);
  });

  it("someone's screen share takes the stage with the cameras in a strip", () => {
    backend.emit({ event: "member.updated", params: { member: { ...grace, screen_sharing: true }, updated: ["screen_sharing"] } });
    backend.emit({ event: "screenShare.started", params: { member_id: "m2" } });
    const stage = $("#stage .tile[data-member-id='m2'][data-kind='screen']");
    expect(stage).not.toBeNull();
    expect($$("#strip .tile").length).toBe(3);
    backend.emit({ event: "screenShare.ended", params: { member_id: "m2" } });
    expect($(".tile[data-kind='screen']")).toBeNull();
    expect($$("#grid .tile").length).toBe(3);
  });

  it("an avatar's colour follows the person, not the member id handed out in join order", () => {
    const hue = (id: string) => $(`.tile[data-member-id='${id}'] .avatar-circle`)!.style.getPropertyValue("--hue");
    const grace = hue("m2");
    expect(grace).toBe(String(hueFor("Grace")));
    expect(hue("m3")).toBe(String(hueFor("Linus")));
    backend.emit({ event: "member.left", params: { member_id: "m2", name: "Grace", reason: "left" } });
    backend.emit({ event: "member.joined", params: { member: member("m9", "Grace") } });
    expect(hue("m9")).toBe(grace);
  });

  it("the layout button switches to speaker view (the last talker big, the others in the strip) and back", () => {
    click("#btn-layout");
    expect($("#room-view")!.dataset.view).toBe("speaker");
    // Nobody talked yet: the first other member.
    expect($("#stage .tile")!.dataset.memberId).toBe("m2");
    backend.emit({ event: "member.talking", params: { member_id: "m3", talking: true } });
    expect($("#stage .tile")!.dataset.memberId).toBe("m3");
    // Silence keeps them; my own talking never takes the stage.
    backend.emit({ event: "member.talking", params: { member_id: "m3", talking: false } });
    backend.emit({ event: "member.talking", params: { member_id: "m1", talking: true } });
    expect($("#stage .tile")!.dataset.memberId).toBe("m3");
    expect($$("#strip .tile").map((t) => t.dataset.memberId)).toEqual(["self", "m2"]);
    click("#btn-layout");
    expect($("#room-view")!.dataset.view).toBe("grid");
    expect($$("#grid .tile").length).toBe(3);
  });

  it("pins with the pin button or a double click, and unpins the same way", () => {
    const tile = () => $(".tile[data-member-id='m3'][data-kind='camera']")!;
    tile().dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    expect($("#stage .tile")).toBe(tile());
    expect(tile().classList.contains("pinned")).toBe(true);
    expect(tile().querySelector(".tile-pin")!.getAttribute("aria-pressed")).toBe("true");
    tile().dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    expect($$("#grid .tile").length).toBe(3);
    (document.querySelector(".tile[data-member-id='self'] .tile-pin") as HTMLElement).click();
    expect($("#stage .tile")!.dataset.memberId).toBe("self");
    // The pinned member leaves: back to the grid.
    (document.querySelector(".tile[data-member-id='m2'] .tile-pin") as HTMLElement).click();
    backend.emit({ event: "member.left", params: { member_id: "m2", name: "Grace", reason: "left" } });
    expect($("#stage")?.isConnected ?? false).toBe(false);
    expect($$("#grid .tile").length).toBe(2);
  });

  it("single-key shortcuts work, but not while typing in the chat", () => {
    const key = (k: string, target: EventTarget = document.body) =>
      target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
    key("l");
    expect($("#room-view")!.dataset.view).toBe("speaker");
    key("c");
    expect($("#chat-panel")).not.toBeNull();
    const input = $<HTMLInputElement>("#chat-input")!;
    key("l", input);
    key("p", input);
    key("?", input);
    expect($("#room-view")!.dataset.view).toBe("speaker");
    expect($("#participants-panel")).toBeNull();
    expect($("#shortcuts-help")).toBeNull();
    key("f");
    expect(backend.fullscreen).toBe(true);
  });

  it("? shows the shortcuts help, listing each shortcut; Escape closes it", () => {
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "?", bubbles: true }));
    const help = $("#shortcuts-help")!;
    expect(help.textContent).toContain("Ctrl+D");
    expect(help.textContent).toContain("Fullscreen");
    expect(help.querySelectorAll("tr").length).toBeGreaterThanOrEqual(8);
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect($("#shortcuts-help")).toBeNull();
    click("#btn-shortcuts");
    expect($("#shortcuts-help")).not.toBeNull();
  });

  it("the mic button shows my level, and nothing while I am muted", async () => {
    backend.replies.mic_level = () => -12;
    await new Promise((r) => setTimeout(r, 250));
    expect(Number($("#call-mic-meter")!.getAttribute("aria-valuenow"))).toBe(80);
    backend.emit({ event: "member.updated", params: { member: { ...ada, audio_muted: true }, updated: ["audio_muted"] } });
    await new Promise((r) => setTimeout(r, 250));
    expect($("#call-mic-meter")!.getAttribute("aria-valuenow")).toBe("0");
  });

  it("subscribes to visible tiles at device-pixel sizes and draws frames", async () => {
    await flush();
    const tile = $(".tile[data-member-id='m2']")!;
    // jsdom has no layout: report a size as ResizeObserver would.
    const vt = (app as unknown as { hub: { tile(k: string): { setSize(w: number, h: number): void } } }).hub.tile("m2:camera")!;
    vt.setSize(321, 180);
    await flush();
    const sub = JSON.parse(last(backend.sent)!);
    expect(sub.tiles).toContainEqual({ member_id: "m2", kind: "camera", width: 322, height: 180 });
    backend.frames!.onFrame(encodeFrame("m2", "camera", 322, 180, Date.now() - 5, { y: 100, u: 120, v: 130 }));
    backend.frames!.onFrame(encodeFrame("m9", "camera", 2, 2, 0, { y: 1, u: 1, v: 1 }));
    // Every frame is answered, drawn or not, so the backend may send that tile's next one.
    expect(backend.sent.slice(-2).map((t) => JSON.parse(t))).toEqual([
      { drawn: { member_id: "m2", kind: "camera" } },
      { drawn: { member_id: "m9", kind: "camera" } },
    ]);
    const stats = window.__conclaveStats!();
    expect(stats.tiles["m2:camera"].frames).toBe(1);
    expect(stats.tiles["m2:camera"].renderer).toBe("2d");
    expect(stats.tiles["m2:camera"].latency_p50_ms).toBeGreaterThanOrEqual(0);
    expect(tile.classList.contains("has-frame")).toBe(true);
    const canvas = tile.querySelector<HTMLCanvasElement>("[data-testid='tile-canvas']")!;
    expect([canvas.width, canvas.height]).toEqual([322, 180]);
    // An RGBA frame (converted by the backend) is drawn as it is, on a fresh 2D canvas.
    backend.frames!.onFrame(encodeRgbaFrame("m2", "camera", 4, 2, Date.now() - 3, new Array(32).fill(200)));
    expect(window.__conclaveStats!().tiles["m2:camera"]).toMatchObject({ frames: 2, renderer: "rgba-2d", width: 4, height: 2 });
    const fresh = tile.querySelector<HTMLCanvasElement>("[data-testid='tile-canvas']")!;
    expect(fresh).not.toBe(canvas);
    expect([fresh.width, fresh.height]).toEqual([4, 2]);
    const put = last(putImages)!;
    expect([put.width, put.height, put.data.length, put.data[5]]).toEqual([4, 2, 32, 200]);
    expect(last(backend.sent)).toBe(JSON.stringify({ drawn: { member_id: "m2", kind: "camera" } }));
  });

  it("kicked: toast and back to the lobby", async () => {
    backend.emit({ event: "room.kicked", params: { room: "standup", by: "m2", by_name: "Grace", reason: null } });
    backend.emit({ event: "room.left", params: { room: "standup", reason: "kicked" } });
    await flush();
    expect($("#room-view")).toBeNull();
    expect($("#lobby")).not.toBeNull();
    expect($$(".toast").map((t) => t.textContent)).toContain("You were removed by Grace");
    expect(document.title).toBe("Conclave");
  });

  it("leave: calls leave and goes back on room.left", async () => {
    backend.replies.leave = () => backend.emit({ event: "room.left", params: { room: "standup", reason: "left" } });
    click("#btn-leave");
    await flush();
    expect(backend.called("leave").length).toBe(1);
    expect($("#lobby")).not.toBeNull();
    // The lobby keeps what I joined with.
    expect($<HTMLInputElement>("#room")!.value).toBe("standup");
  });

  it("error events become toasts", () => {
    backend.emit({ event: "error", params: { error: { code: "not_moderator", message: "only moderators may kick" }, request: "kick" } });
    expect($$(".toast").map((t) => t.textContent)).toContain("only moderators may kick");
  });

  it("shows the connection state", () => {
    backend.emit({ event: "media.connected", params: {} });
    expect($(".conn")!.textContent).toBe("Connected");
    backend.emit({ event: "media.reconnecting", params: {} });
    expect($(".conn")!.textContent).toBe("Reconnecting…");
  });
});

describe("reconnecting", () => {
  const reconnecting = (attempt: number): Event => ({ event: "room.reconnecting", params: { room: "standup", attempt } });
  const reconnected = (resumed: boolean): Event => ({ event: "room.reconnected", params: { room: "standup", resumed } });

  beforeEach(async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace, linus]);
    backend.emit({ event: "media.connected", params: {} });
  });

  it("a banner shows while my connection to the room server is down, with the attempt after the first", () => {
    expect($("#reconnecting-banner")).toBeNull();
    backend.emit(reconnecting(1));
    const banner = $("#reconnecting-banner")!;
    expect(banner.getAttribute("role")).toBe("status");
    expect(banner.textContent).toContain("Reconnecting to the meeting…");
    expect(banner.textContent).not.toContain("attempt");
    expect(banner.textContent).toContain("The call continues when the connection is back.");
    // The pill agrees, though the media connection still says connected.
    expect($(".conn")!.textContent).toBe("Reconnecting…");
    backend.emit(reconnecting(3));
    expect($("#reconnecting-banner")!.textContent).toContain("(attempt 3)");
    backend.emit(reconnected(true));
    expect($("#reconnecting-banner")).toBeNull();
    expect($(".conn")!.textContent).toBe("Connected");
    expect($$(".toast-success").map((t) => t.textContent)).toEqual(["Reconnected"]);
  });

  it("back as a new member: me and the members are replaced in place, the chat stays", async () => {
    backend.emit({ event: "chat.message", params: { from: "m2", from_name: "Grace", text: "before the drop", sent_at_ms: 1n } });
    click("#btn-chat");
    click("#btn-participants");
    const view = $("#room-view");
    backend.emit(reconnecting(9));
    backend.emit({ event: "track.ended", params: { member_id: "m2", kind: "camera" } });
    backend.emit(reconnected(false));
    expect($("#reconnecting-banner")).toBeNull();
    expect($(".toast-warning")!.textContent).toBe("Reconnected as a new member. Messages sent while you were away are not shown.");
    const newMe = member("m8", "Ada");
    backend.emit({ event: "room.joined", params: { room: "standup", member_id: "m8", role: "participant", members: [grace, newMe] } });
    await flush();
    // Never through the lobby: the same room view, panels still open.
    expect($("#lobby")).toBeNull();
    expect($("#room-view")).toBe(view);
    expect($$(".tile[data-kind='camera']").map((t) => t.dataset.memberId)).toEqual(["self", "m2"]);
    expect($$(".participant[data-member-id]").map((r) => r.dataset.memberId)).toEqual(["m8", "m2"]);
    expect($(".participant.me")!.dataset.role).toBe("participant");
    expect($$(".participant .kick")).toEqual([]);
    expect($$(".chat-message").map((m) => m.textContent)).toEqual([expect.stringContaining("before the drop")]);
    expect($(".conn")!.textContent).toBe("Connecting…");
  });

  it("another member reconnecting: a badge on their tile, dimmed, and a note in the People panel, until it clears", () => {
    click("#btn-participants");
    const tile = () => $(".tile[data-member-id='m2']")!;
    const badge = () => $<HTMLElement>(".tile[data-member-id='m2'] .tile-reconnecting")!;
    const row = () => $(".participant[data-member-id='m2']")!;
    expect(badge().hidden).toBe(true);
    expect(row().textContent).not.toContain("Reconnecting…");
    backend.emit({ event: "member.updated", params: { member: { ...grace, reconnecting: true }, updated: ["reconnecting"] } });
    expect(badge().hidden).toBe(false);
    expect(badge().textContent).toBe("Reconnecting…");
    expect(tile().classList.contains("reconnecting")).toBe(true);
    expect(row().textContent).toContain("Reconnecting…");
    expect(row().dataset.reconnecting).toBe("true");
    // Only hers.
    expect($<HTMLElement>(".tile[data-member-id='m3'] .tile-reconnecting")!.hidden).toBe(true);
    expect($(".participant[data-member-id='m3']")!.textContent).not.toContain("Reconnecting…");
    backend.emit({ event: "member.updated", params: { member: grace, updated: ["reconnecting"] } });
    expect(badge().hidden).toBe(true);
    expect(tile().classList.contains("reconnecting")).toBe(false);
    expect(row().textContent).not.toContain("Reconnecting…");
  });

  it("giving up: room.left after reconnecting goes back to the lobby as before", async () => {
    backend.emit(reconnecting(1));
    backend.emit(reconnecting(2));
    backend.emit({ event: "error", params: { error: { code: "connection_failed", message: "could not reach the room server" }, request: null } });
    backend.emit({ event: "room.left", params: { room: "standup", reason: "disconnected" } });
    await flush();
    expect($("#room-view")).toBeNull();
    expect($("#reconnecting-banner")).toBeNull();
    expect($("#lobby")).not.toBeNull();
    expect($$(".toast").map((t) => t.textContent)).toContain("Disconnected from standup");
  });
});

describe("connection quality, call statistics and slow links", () => {
  const quality = (member_id: string, q: "excellent" | "good" | "poor" | "lost"): Event => ({ event: "member.quality", params: { member_id, quality: q } });
  const stats = (grace: Partial<TrackStats> = {}): Event => ({
    event: "call.stats",
    params: {
      stats: callStats([
        track({ kind: "microphone", kbps: 32 }),
        track({ kind: "camera", kbps: 1500, fps: 30, width: 1280, height: 720, layer: 0 }),
        track({ member_id: "m2", kind: "camera", direction: "downlink", kbps: 480, loss_percent: 1.25, jitter_ms: 8, fps: 30, width: 640, height: 360, layer: 1, ...grace }),
      ]),
    },
  });
  const slow = (direction: "uplink" | "downlink", on: boolean): Event => ({ event: "link.slow", params: { direction, slow: on, estimate_kbps: 300 } });
  /** The quality indicator on a member's tile (`self` for mine). */
  const indicator = (id: string) => $(`.tile[data-member-id='${id}'] [data-quality]`);
  const key = (k: string, shiftKey = false) => document.body.dispatchEvent(new KeyboardEvent("keydown", { key: k, shiftKey, bubbles: true }));

  beforeEach(async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace, linus]);
  });

  it("every tile and the top bar show a connection's quality as signal bars, once it is known", () => {
    expect($$(".tile [data-quality]")).toEqual([]);
    expect($("#own-quality")!.hidden).toBe(true);
    expect($("#own-quality")!.hasAttribute("data-quality")).toBe(false);
    backend.emit(quality("m2", "good"));
    backend.emit(quality("m1", "excellent"));
    backend.emit(quality("m3", "lost"));
    const g = indicator("m2")!;
    expect(g.dataset.quality).toBe("good");
    expect(g.getAttribute("aria-label")).toBe("Connection: good");
    expect(g.getAttribute("title")).toBe("Connection: good");
    expect(g.getAttribute("role")).toBe("img");
    // Two of the three bars lit.
    expect(g.querySelectorAll("path").length).toBe(3);
    expect(g.querySelectorAll("path[opacity]").length).toBe(1);
    expect(indicator("m3")!.dataset.quality).toBe("lost");
    expect(indicator("m3")!.querySelectorAll("path").length).toBe(4);
    expect(indicator("self")!.dataset.quality).toBe("excellent");
    expect($("#own-quality")!.hidden).toBe(false);
    expect($("#own-quality")!.dataset.quality).toBe("excellent");
    backend.emit(quality("m1", "poor"));
    expect(indicator("self")!.getAttribute("aria-label")).toBe("Connection: poor");
    expect($("#own-quality")!.getAttribute("aria-label")).toBe("Connection: poor");
    // A shared screen shows its sharer's.
    backend.emit({ event: "screenShare.started", params: { member_id: "m2" } });
    expect($(".tile[data-member-id='m2'][data-kind='screen'] [data-quality]")!.dataset.quality).toBe("good");
  });

  it("tiles say which layer of each video arrives", () => {
    backend.emit({ event: "video.layers", params: { layers: [{ member_id: "m2", kind: "camera", layer: 1 }, { member_id: "m3", kind: "camera", layer: null }] } });
    expect($(".tile[data-member-id='m2'][data-kind='camera']")!.dataset.layer).toBe("1");
    expect($(".tile[data-member-id='m3'][data-kind='camera']")!.dataset.layer).toBe("none");
    expect($(".tile[data-member-id='self']")!.hasAttribute("data-layer")).toBe(false);
  });

  it("the statistics panel: waits for the first call.stats, shows them, and updates in place without taking focus", () => {
    expect($("#stats-panel")).toBeNull();
    click("#btn-stats");
    expect($("#btn-stats")!.getAttribute("aria-expanded")).toBe("true");
    expect($("#stats-panel")!.textContent).toContain("Waiting for statistics…");
    expect($<HTMLElement>("#stats-panel .stats-content")!.hidden).toBe(true);
    backend.emit(stats());
    expect($("#stats-rtt")!.textContent).toBe("24 ms");
    expect($("#stats-uplink")!.textContent).toBe("2500 kb/s");
    expect($$("#stats-panel th").map((th) => th.textContent)).toEqual(["Whose", "Kind", "Direction", "kb/s", "Loss %", "Jitter ms", "FPS", "Size", "Layer"]);
    const cells = () => $$("#stats-panel tbody tr").map((tr) => Array.from(tr.children).map((td) => td.textContent));
    expect(cells()).toEqual([
      ["You", "Camera", "Up", "1500", "0.0", "—", "30", "1280×720", "full"],
      ["You", "Microphone", "Up", "32", "0.0", "—", "—", "—", "—"],
      ["Grace", "Camera", "Down", "480", "1.3", "8", "30", "640×360", "half"],
    ]);
    const row = $("#stats-panel tr[data-member-id='m2'][data-kind='camera'][data-direction='downlink']")!;
    expect(row.dataset.layer).toBe("1");
    $("#btn-mic")!.focus();
    backend.emit(stats({ kbps: 140, width: 320, height: 180, layer: 2 }));
    expect($("#stats-panel tr[data-member-id='m2'][data-kind='camera']")).toBe(row);
    expect(row.dataset.layer).toBe("2");
    expect(cells()[2]).toEqual(["Grace", "Camera", "Down", "140", "1.3", "8", "30", "320×180", "quarter"]);
    expect(document.activeElement).toBe($("#btn-mic"));
    click("#stats-panel .panel-head .icon-btn");
    expect($("#stats-panel")).toBeNull();
    expect($("#btn-stats")!.getAttribute("aria-expanded")).toBe("false");
  });

  it("S (or Shift+S) opens and closes the statistics, Escape closes them; the help lists the key", () => {
    key("s");
    expect($("#stats-panel")).not.toBeNull();
    key("S", true);
    expect($("#stats-panel")).toBeNull();
    key("s");
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect($("#stats-panel")).toBeNull();
    key("?");
    expect($("#shortcuts-help")!.textContent).toContain("Show or hide the call statistics");
  });

  it("a slow link: one warning per direction while it lasts, gone when it recovers", () => {
    const warnings = (direction: string) => $$(`.toast[data-event='link.slow'][data-condition='link.slow:${direction}']`);
    backend.emit(slow("uplink", true));
    backend.emit(slow("uplink", true));
    expect(warnings("uplink").map((t) => t.textContent)).toEqual(["Your connection can't send full-quality video; others see you at lower quality"]);
    expect(warnings("uplink")[0].classList.contains("toast-warning")).toBe(true);
    backend.emit(slow("downlink", true));
    expect(warnings("downlink").map((t) => t.textContent)).toEqual(["Your connection is slow; video quality is lowered"]);
    backend.emit(slow("uplink", false));
    expect(warnings("uplink")).toEqual([]);
    expect(warnings("downlink")).toHaveLength(1);
    backend.emit(slow("downlink", false));
    expect($$(".toast[data-event='link.slow']")).toEqual([]);
  });

  it("the slow-link warning stays while the link is slow; other toasts go after a while", () => {
    vi.useFakeTimers();
    try {
      backend.emit(slow("downlink", true));
      backend.emit({ event: "error", params: { error: { code: "internal", message: "oops" }, request: null } });
      vi.advanceTimersByTime(30_000);
      expect($$(".toast").map((t) => t.dataset.event)).toEqual(["link.slow"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("devices", () => {
  const usbMic = { id: "usb", label: "USB Mic", kind: "microphone", synthetic: false } as const;
  const webcam = info.devices.cameras[1];
  const pattern = info.devices.cameras[0];
  const tone = info.devices.microphones[0];
  const options = (sel: string) => $$(`${sel} option`).map((o) => o.getAttribute("value"));

  it("lobby pickers follow devices.changed, with a subtle toast for a new real device", async () => {
    await start();
    backend.emit({ event: "devices.changed", params: { added: [usbMic], removed: [webcam] } });
    expect(options("#microphone")).toEqual(["mic1", "usb"]);
    expect(options("#camera")).toEqual(["cam1"]);
    const toast = $(".toast[data-event='devices.changed']")!;
    expect(toast.textContent).toBe("New microphone: “USB Mic”");
    expect(toast.classList.contains("toast-info")).toBe(true);
  });

  it("the lobby camera picker follows a fallback after a disconnect", async () => {
    await start();
    expect($<HTMLSelectElement>("#camera")!.value).toBe("cam2");
    backend.emit({ event: "camera.disconnected", params: { device: webcam, fallback: pattern } });
    expect($<HTMLSelectElement>("#camera")!.value).toBe("cam1");
    expect(options("#camera")).toEqual(["cam1"]);
    const toast = $(".toast[data-event='camera.disconnected']")!;
    expect(toast.textContent).toBe("Camera “Webcam” was disconnected. Now using “Test pattern (synthetic)”.");
    expect(toast.classList.contains("toast-warning")).toBe(true);
  });

  it("in the room, disconnected toasts carry data-event; no fallback turns the camera off", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    backend.emit({ event: "camera.disconnected", params: { device: webcam, fallback: null } });
    expect($(".toast[data-event='camera.disconnected']")!.textContent).toBe("Camera “Webcam” was disconnected. Your camera is off.");
    expect($("#btn-camera")!.getAttribute("aria-pressed")).toBe("true");
    backend.emit({ event: "camera.updated", params: { previous: null, current: pattern } });
    expect($$(".toast[data-event='camera.updated']")).toEqual([]);
  });

  it("Settings show the microphone's level and play the test sound on the chosen speaker", async () => {
    const speaker = { id: "spk1", label: "Headphones", kind: "speaker" as const, synthetic: false };
    await start({ ...info, devices: { ...info.devices, speakers: [speaker] } });
    backend.replies.list_devices = () => ({ ...info.devices, speakers: [speaker] });
    await joinAs("m1", "moderator", [ada, grace]);
    backend.replies.mic_level = () => -30;
    click("#btn-settings");
    await new Promise((r) => setTimeout(r, 250));
    expect($("#settings-mic-meter")!.getAttribute("aria-valuenow")).toBe("50");
    click("#settings-test-speaker");
    await flush();
    expect(backend.called("test_speaker")).toEqual([{ speakerId: "spk1" }]);
    // No second sound on top of the one playing.
    expect($<HTMLButtonElement>("#settings-test-speaker")!.disabled).toBe(true);
    click("#settings-test-speaker");
    expect(backend.called("test_speaker").length).toBe(1);
  });

  it("in-call device settings list the state's devices, mark the ones in use, and follow events", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-settings");
    await flush();
    expect($("#device-picker")).not.toBeNull();
    // What the call started with is in use.
    expect($<HTMLSelectElement>("#settings-camera")!.value).toBe("cam2");
    expect($<HTMLSelectElement>("#settings-microphone")!.value).toBe("mic1");
    expect($("#settings-camera option[data-in-use]")!.getAttribute("value")).toBe("cam2");
    expect(options("#settings-speaker")).toEqual([""]);
    // A device plugged in appears in the open picker.
    backend.emit({ event: "devices.changed", params: { added: [usbMic], removed: [] } });
    expect(options("#settings-microphone")).toEqual(["mic1", "usb"]);
    // Picking one calls pick_device, and the picker marks it once in use.
    const mic = $<HTMLSelectElement>("#settings-microphone")!;
    mic.value = "usb";
    mic.dispatchEvent(new window.Event("change"));
    await flush();
    expect(backend.called("pick_device")).toEqual([{ kind: "microphone", id: "usb" }]);
    expect($("#settings-microphone option[data-in-use]")!.getAttribute("value")).toBe("usb");
    expect($$(".toast")).toEqual([$(".toast[data-event='devices.changed']")]);
    // It goes away: the picker shows the fallback in use.
    backend.emit({ event: "microphone.disconnected", params: { device: usbMic, fallback: tone } });
    expect(options("#settings-microphone")).toEqual(["mic1"]);
    expect($<HTMLSelectElement>("#settings-microphone")!.value).toBe("mic1");
    expect($(".toast[data-event='microphone.disconnected']")!.textContent).toBe(
      "Microphone “USB Mic” was disconnected. Now using “Tone (synthetic)”.",
    );
  });

  it("a refused pick reads well and the picker goes back to the device in use", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-settings");
    await flush();
    backend.replies.pick_device = () => {
      throw { code: "device_busy", message: "cam1 is busy (another program may be using it)" };
    };
    const cam = $<HTMLSelectElement>("#settings-camera")!;
    cam.value = "cam1";
    cam.dispatchEvent(new window.Event("change"));
    await flush();
    expect($$(".toast").map((t) => t.textContent)).toContain("Camera “Test pattern (synthetic)” is in use by another program.");
    expect($<HTMLSelectElement>("#settings-camera")!.value).toBe("cam2");
  });

  it("device error events become friendly toasts with the code", async () => {
    await start();
    backend.emit({ event: "error", params: { error: { code: "device_permission_denied", message: "cam2: access denied" }, request: null } });
    const toast = $(".toast[data-event='error'][data-error-code='device_permission_denied']")!;
    expect(toast.textContent).toBe("Access to camera “Webcam” was denied.");
  });

  it("an open share picker follows devices.changed", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-share");
    await flush();
    const screen3 = { id: "scr3", label: "Screen 2", kind: "screen", synthetic: false } as const;
    backend.emit({ event: "devices.changed", params: { added: [screen3], removed: [] } });
    expect($$("#share-picker .share-option").map((b) => b.dataset.deviceId)).toEqual(["scr2", "scr3", "scr1"]);
  });
});

describe("room as a participant", () => {
  it("has no Kick buttons", async () => {
    await start();
    await joinAs("m2", "participant", [ada, grace]);
    click("#btn-participants");
    expect($$(".participant").length).toBe(2);
    expect($$(".kick").length).toBe(0);
  });

  it("shows where I am hosting", async () => {
    await start();
    backend.replies.join = () => {
      backend.emit({ event: "room.joined", params: { room: "standup", member_id: "m1", role: "moderator", members: [ada] } });
      return { room_link: "conclave://192.168.1.4:7400/standup", hosted_address: "192.168.1.4:7400", link_is_local: false };
    };
    click("#join");
    await flush();
    expect($("#hosted-address")!.textContent).toBe("192.168.1.4:7400");
    expect($<HTMLInputElement>("#room-link-display")!.value).toBe("conclave://192.168.1.4:7400/standup");
  });
});

describe("the app and its backend", () => {
  it("a page that starts while the backend is in a call shows that call", async () => {
    document.body.innerHTML = '<div id="app"></div>';
    backend = new FakeBackend();
    backend.replies.app_state = () => ({
      call: {
        choices: info.last_choices,
        joined: { room_link: "conclave://10.0.0.5:7400/standup", hosted_address: null, link_is_local: false },
        events: [
          { event: "room.joined", params: { room: "standup", member_id: "m1", role: "participant", members: [ada, grace] } },
          { event: "media.connected", params: {} },
          { event: "track.started", params: { member_id: "m2", kind: "camera" } },
        ],
      },
      hosting_address: null,
    });
    app = new App(backend, info, document.getElementById("app")!);
    await app.start();
    await flush();
    expect($("#lobby")).toBeNull();
    expect($$(".tile[data-member-id='m2']").length).toBe(1);
    expect(app.state().media).toBe("connected");
    expect($("#btn-leave")).not.toBeNull();
  });

  it("says when the link it was opened with is no room link", async () => {
    await start({ ...info, link_error: "a room link starts with conclave://" });
    expect($$(".toast").map((t) => t.textContent).join()).toContain("not a room link");
  });

  it("fills the lobby with a link another launch handed over, and refuses a bad one", async () => {
    await start();
    for (const cb of backend.status)
      cb({ status: "link_opened", choices: { ...info.last_choices!, room: "retro", place: { mode: "server", address: "10.9.9.9:7880", fingerprint: null } } });
    await flush();
    expect($<HTMLInputElement>("#room")!.value).toBe("retro");
    expect($<HTMLInputElement>("#server-address")!.value).toBe("10.9.9.9:7880");
    for (const cb of backend.status) cb({ status: "link_refused", link: "conclave://nonsense", message: "the link has no port" });
    await flush();
    expect($$(".toast").map((t) => t.textContent).join()).toContain("the link has no port");
  });

  it("joins with the certificate a link names, only for that link's address", async () => {
    await start();
    const fingerprint = "ab".repeat(32);
    for (const cb of backend.status)
      cb({ status: "link_opened", choices: { ...info.last_choices!, room: "tls", place: { mode: "server", address: "10.9.9.9:7880", fingerprint } } });
    await flush();
    click("#join");
    await flush();
    const joined = backend.called("join")[0] as { choices: LobbyChoices };
    expect(joined.choices.place).toEqual({ mode: "server", address: "10.9.9.9:7880", fingerprint });
    type("#server-address", "10.1.1.1:7880");
    click("#join");
    await flush();
    const again = backend.called("join")[1] as { choices: LobbyChoices };
    expect(again.choices.place).toEqual({ mode: "server", address: "10.1.1.1:7880", fingerprint: null });
  });

  it("asks before quitting while hosting; staying says so to the backend", async () => {
    await start();
    for (const cb of backend.status) cb({ status: "quit_while_hosting" });
    await flush();
    expect($("#confirm-title")!.textContent).toContain("end the meeting");
    click("#confirm-cancel");
    await flush();
    expect(backend.called("cancel_quit").length).toBe(1);
    expect(backend.called("quit").length).toBe(0);
    for (const cb of backend.status) cb({ status: "quit_while_hosting" });
    await flush();
    click("#confirm-ok");
    await flush();
    expect(backend.called("quit").length).toBe(1);
  });

  it("the lobby shows a meeting this app still hosts, and can end it", async () => {
    document.body.innerHTML = '<div id="app"></div>';
    backend = new FakeBackend();
    let hosting: string | null = "192.168.1.4:7880";
    backend.replies.app_state = () => ({ call: null, hosting_address: hosting });
    backend.replies.end_meeting = () => {
      hosting = null;
    };
    app = new App(backend, info, document.getElementById("app")!);
    await app.start();
    await flush();
    expect($("#still-hosting")!.hidden).toBe(false);
    expect($("#still-hosting")!.textContent).toContain("192.168.1.4:7880");
    click("#end-hosted-meeting");
    await flush();
    click("#confirm-ok");
    await flush();
    expect(backend.called("end_meeting").length).toBe(1);
    expect($("#still-hosting")!.hidden).toBe(true);
  });

  it("a moderator locks the meeting from the People panel; everyone sees it locked", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-participants");
    await flush();
    expect($("#btn-lock-room")!.textContent).toBe("Lock meeting");
    expect($("#room-locked-note")!.hidden).toBe(true);
    click("#btn-lock-room");
    await flush();
    expect(backend.called("set_room_lock")).toEqual([{ locked: true }]);
    backend.emit({ event: "room.updated", params: { room: "standup", locked: true, password_protected: false } });
    await flush();
    expect($("#btn-lock-room")!.textContent).toBe("Unlock meeting");
    expect($("#btn-lock-room")!.getAttribute("aria-pressed")).toBe("true");
    expect($("#room-locked-note")!.hidden).toBe(false);
  });

  it("a moderator sets a password from the People panel through a dialog, and can remove it", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-participants");
    await flush();
    expect($("#btn-room-password")!.hidden).toBe(false);
    expect($("#btn-room-password")!.textContent).toBe("Set password");
    expect($("#room-password-note")!.hidden).toBe(true);
    click("#btn-room-password");
    await flush();
    const input = $<HTMLInputElement>("#confirm-input")!;
    expect(input.type).toBe("password");
    expect(document.activeElement).toBe(input);
    expect($<HTMLButtonElement>("#confirm-ok")!.disabled).toBe(true);
    type("#confirm-input", "sesame");
    expect($<HTMLButtonElement>("#confirm-ok")!.disabled).toBe(false);
    // Enter confirms, once.
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    await flush();
    expect(backend.called("set_room_password")).toEqual([{ password: "sesame" }]);
    backend.emit({ event: "room.updated", params: { room: "standup", locked: false, password_protected: true } });
    await flush();
    expect($("#btn-room-password")!.textContent).toBe("Remove password");
    expect($("#room-password-note")!.hidden).toBe(false);
    expect($("#room-password-note")!.textContent).toBe("Password set: newcomers need it to join.");
    click("#btn-room-password");
    await flush();
    expect($("#confirm-input")).toBeNull();
    click("#confirm-ok");
    await flush();
    expect(backend.called("set_room_password")).toEqual([{ password: "sesame" }, { password: null }]);
  });

  it("the password dialog: Escape sets nothing and leaves the panel open; a refusal is a toast", async () => {
    await start();
    await joinAs("m1", "moderator", [ada, grace]);
    click("#btn-participants");
    click("#btn-room-password");
    await flush();
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true, cancelable: true }));
    await flush();
    expect(backend.called("set_room_password")).toEqual([]);
    expect($("#participants-panel")).not.toBeNull();
    backend.replies.set_room_password = () => {
      throw { code: "not_moderator", message: "only moderators may set a password" };
    };
    click("#btn-room-password");
    await flush();
    type("#confirm-input", "sesame");
    click("#confirm-ok");
    await flush();
    expect($$(".toast").map((t) => t.textContent)).toContain("Password: only moderators may set a password");
  });

  it("a participant sees the password note but no password button", async () => {
    await start();
    await joinAs("m2", "participant", [ada, grace]);
    click("#btn-participants");
    backend.emit({ event: "room.updated", params: { room: "standup", locked: false, password_protected: true } });
    await flush();
    expect($("#btn-room-password")!.hidden).toBe(true);
    expect($("#room-password-note")!.hidden).toBe(false);
  });

  it("never keeps a password: after leaving, the lobby's password field is empty", async () => {
    await start();
    await joinRefused("wrong_password", "The room needs a password");
    type("#room-password", "sesame");
    await joinAs("m2", "participant", [ada, grace]);
    expect(lastJoin().password).toBe("sesame");
    expect(app.choices?.password).toBeNull();
    backend.replies.leave = () => backend.emit({ event: "room.left", params: { room: "standup", reason: "left" } });
    click("#btn-leave");
    await flush();
    expect($<HTMLInputElement>("#room-password")!.value).toBe("");
    expect(fieldShown("#room-password")).toBe(false);
    expect($<HTMLInputElement>("#room")!.value).toBe("standup");
  });

  it("warns that a loopback link works for nobody else", async () => {
    await start();
    backend.replies.join = () => {
      backend.emit({ event: "room.joined", params: { room: "standup", member_id: "m1", role: "participant", members: [ada] } });
      return { room_link: "conclave://127.0.0.1:7880/standup", hosted_address: null, link_is_local: true };
    };
    click("#join");
    await flush();
    expect($("#invite-local-warning")).not.toBeNull();
  });
});

describe("the mock backend", () => {
  /** The app on the mock backend, with the mock's `?` parameters. */
  async function startMock(query: string) {
    document.body.innerHTML = '<div id="app"></div>';
    const mock = createMock(new URLSearchParams(query));
    const info = await mock.backend.invoke<AppInfo>("app_info");
    app = new App(mock.backend, info, document.getElementById("app")!);
    await app.start();
    await mock.afterStart(app);
    return mock;
  }
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 50 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(ok()).toBe(true);
  };

  it("answers my own mute, camera and share with events, as the real backend does", async () => {
    const mock = await startMock("mock=room&members=3&share=0");
    const pressed = (sel: string) => () => $(sel)?.getAttribute("aria-pressed") === "true";
    await until(() => $("#btn-mic") !== null);
    click("#btn-mic");
    await until(pressed("#btn-mic"));
    click("#btn-camera");
    await until(pressed("#btn-camera"));
    expect($(".tile[data-member-id='self']")!.classList.contains("video-off")).toBe(true);
    click("#btn-share");
    await until(() => $(".share-option[data-screen-id='x11:0']") !== null);
    click(".share-option[data-screen-id='x11:0']");
    await until(pressed("#btn-share"));
    click("#btn-share");
    await until(() => !pressed("#btn-share")());
    click("#btn-mic");
    await until(() => !pressed("#btn-mic")());
    expect($$(".toast[data-error-code], .toast-error")).toEqual([]);
    await mock.backend.invoke("leave");
  });

  it("takes another member's volume and Mute for me, and refuses a volume out of range", async () => {
    const mock = await startMock("mock=room&members=3&share=0&panel=people");
    await until(() => $(".participant .p-mute") !== null);
    const mute = $<HTMLButtonElement>(".participant .p-mute")!;
    const id = mute.closest<HTMLElement>(".participant")!.dataset.memberId!;
    mute.click();
    await until(() => $(`.participant[data-member-id='${id}'] .p-mute`)?.getAttribute("aria-pressed") === "true");
    await expect(mock.backend.invoke("set_playback", { memberId: id, playback: { volume_percent: 210, muted: false } })).rejects.toMatchObject({ code: "invalid_message" });
    await expect(mock.backend.invoke("set_playback", { memberId: "m1", playback: { volume_percent: 50, muted: false } })).rejects.toMatchObject({ code: "member_not_found" });
    expect($$(".toast-error")).toEqual([]);
    await mock.backend.invoke("leave");
  });

  it("rates everyone's connection and sends call statistics", async () => {
    const mock = await startMock("mock=room&members=3&share=0&panel=stats");
    await until(() => $("#own-quality[data-quality]") !== null && $$(".tile [data-quality]").length === 3);
    await until(() => $$("#stats-panel tbody tr").length > 0);
    // My microphone and the three layers of my camera, the others' microphones and cameras.
    const rows = $$("#stats-panel tbody tr").map((tr) => `${tr.dataset.memberId}:${tr.dataset.kind}:${tr.dataset.direction}:${tr.dataset.layer ?? ""}`);
    expect(rows).toEqual([
      "self:camera:uplink:0",
      "self:camera:uplink:1",
      "self:camera:uplink:2",
      "self:microphone:uplink:",
      "m2:camera:downlink:1",
      "m2:microphone:downlink:",
      "m3:camera:downlink:1",
      "m3:microphone:downlink:",
    ]);
    await mock.backend.invoke("leave");
  });
});
