// The UI's state and its pure reducer.
//
// `reduce(state, event)` folds the catalog events (see docs/events.md) and a few
// UI-local actions (named `ui.*`, never sent by the backend) into an immutable
// state. Views read the state; nothing here touches the DOM or the backend.

import { deviceLabel } from "./context";
import type { CallStats } from "./generated/CallStats";
import type { ConnectionQuality } from "./generated/ConnectionQuality";
import type { Device } from "./generated/Device";
import type { DeviceKind } from "./generated/DeviceKind";
import type { DeviceList } from "./generated/DeviceList";
import type { Event } from "./generated/Event";
import type { ErrorCode } from "./generated/ErrorCode";
import type { ErrorInfo } from "./generated/ErrorInfo";
import type { Joined } from "./generated/Joined";
import type { LeaveReason } from "./generated/LeaveReason";
import type { LinkDirection } from "./generated/LinkDirection";
import type { Member } from "./generated/Member";
import type { MemberId } from "./generated/MemberId";
import type { Playback } from "./generated/Playback";
import type { Role } from "./generated/Role";
import type { TrackKind } from "./generated/TrackKind";
import type { VideoLayer } from "./generated/VideoLayer";
import type { ViewMode } from "./layout";

export type Phase = "lobby" | "room";

/** State of the media (WebRTC) connection, for the connection indicator. */
export type MediaState = "idle" | "connecting" | "connected" | "reconnecting" | "disconnected";

export type ToastKind = "info" | "success" | "warning" | "error";

export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
  /** The catalog event that caused it (`speaker.disconnected`, `error`, ...); null for UI-local toasts. */
  event: string | null;
  /** For `error` toasts: the error code. */
  code: ErrorCode | null;
  /**
   * Set for a toast about an ongoing condition (`link.slow:uplink`): it stays
   * until dismissed or the condition ends, and a new one replaces it.
   */
  condition?: string;
}

/** The kinds of device that are "in use" (a screen is only in use while shared). */
export type InUseKind = "camera" | "microphone" | "speaker";

/** The id of the device in use per kind; null when none (camera off, microphone muted for lack of one). */
export type DevicesInUse = Record<InUseKind, string | null>;

export interface ChatEntry {
  /** Position in the room's chat, for stable keys. */
  seq: number;
  from: MemberId;
  fromName: string;
  /** Set for whispers: the target. */
  to: MemberId | null;
  /** The target's display name, when known (whispers only). */
  toName: string | null;
  text: string;
  sentAtMs: number;
  whisper: boolean;
  /** I sent it. */
  mine: boolean;
}

export interface State {
  phase: Phase;
  room: string | null;
  /** My member id while in a room. */
  me: MemberId | null;
  role: Role | null;
  /** Everyone in the room, me included, oldest first. */
  members: Member[];
  /** Members sharing a screen, in the order they started. */
  sharers: MemberId[];
  /** The member whose screen takes the stage, if any. */
  stage: MemberId | null;
  /** Remote tracks that are arriving, as `member:kind` keys. */
  tracks: string[];
  chat: ChatEntry[];
  chatOpen: boolean;
  participantsOpen: boolean;
  unread: number;
  media: MediaState;
  /** While my connection to the room server is down: the client's attempt at reconnecting (1, 2, …); null otherwise. */
  reconnectAttempt: number | null;
  /** The invite details from the `join` command's answer. */
  invite: Joined | null;
  toasts: Toast[];
  nextToastId: number;
  /** Why the last session ended, once it has. */
  lastLeave: { room: string; reason: LeaveReason } | null;
  /** The moderator who removed me (between `room.kicked` and `room.left`). */
  kickedBy: string | null;
  /** The devices there are now: from `app_info` / `list_devices`, kept current by `devices.changed`. Survives leaving a room. */
  devices: DeviceList;
  /** The devices in use, from `*.updated` / `*.disconnected` and my own choices. Survives leaving a room. */
  inUse: DevicesInUse;
  /** Devices removed lately (newest last), so that an error about one can still name it. */
  removedDevices: Device[];
  /** The address of the meeting this app hosts, if it hosts one. Survives leaving a room. */
  hosting: string | null;
  /** Who may join the room, from `room.updated` (none yet: open, no password). */
  access: { locked: boolean; passwordProtected: boolean };
  /** Equal tiles, or one big tile and a strip. Survives leaving a room. */
  view: ViewMode;
  /** The tile pinned to the big area, as a `member:kind` key (`self:camera` for mine), if any. */
  pinned: string | null;
  /** The other member who started talking last: speaker view shows them big. */
  activeSpeaker: MemberId | null;
  /** Each member's connection quality (`member.quality`), me included; members not heard of yet have none. */
  quality: Record<MemberId, ConnectionQuality>;
  /** The latest `call.stats`; null until the first one. */
  callStats: CallStats | null;
  /** Whether my link can't carry what it should (`link.slow`), per direction. */
  slowLinks: Record<LinkDirection, boolean>;
  /** The simulcast layer I receive of each video (`video.layers`). */
  layers: VideoLayer[];
  /** The call statistics panel is open. */
  statsOpen: boolean;
  /**
   * How loud each other member plays here, as the backend took it (`set_playback`);
   * only for members in the room. A member not listed plays as sent.
   */
  playback: Record<MemberId, Playback>;
}

/** UI-local actions. Their names start with `ui.` so they never clash with catalog events. */
export type UiAction =
  | { event: "ui.chatOpen"; params: { open: boolean } }
  | { event: "ui.participantsOpen"; params: { open: boolean } }
  | { event: "ui.statsOpen"; params: { open: boolean } }
  | { event: "ui.toast"; params: { kind: ToastKind; text: string } }
  | { event: "ui.dismissToast"; params: { id: number } }
  | { event: "ui.joinedInfo"; params: Joined }
  /** Back to the lobby without a `room.left` (e.g. `leave` failed because the session is gone). */
  | { event: "ui.reset"; params: Record<string, never> }
  /** A fresh device list (from `app_info` or `list_devices`). */
  | { event: "ui.devices"; params: DeviceList }
  /** Devices I chose (at join, or picked in the call); kinds left out stay as they are. */
  | { event: "ui.devicesInUse"; params: Partial<DevicesInUse> }
  /** Whether this app hosts a meeting (from `app_state`). */
  | { event: "ui.hosting"; params: { address: string | null } }
  | { event: "ui.view"; params: { view: ViewMode } }
  /** Pins a tile (`member:kind`), or unpins with null. */
  | { event: "ui.pin"; params: { tile: string | null } }
  /** The backend now plays another member at `playback` (volume, "Mute for me"). */
  | { event: "ui.playback"; params: { memberId: MemberId; playback: Playback } };

export type Action = Event | UiAction;

/** Toasts kept at once; older ones drop off. */
export const MAX_TOASTS = 5;

export function initialState(): State {
  return {
    phase: "lobby",
    room: null,
    me: null,
    role: null,
    members: [],
    sharers: [],
    stage: null,
    tracks: [],
    chat: [],
    chatOpen: false,
    participantsOpen: false,
    unread: 0,
    media: "idle",
    reconnectAttempt: null,
    invite: null,
    toasts: [],
    nextToastId: 1,
    lastLeave: null,
    kickedBy: null,
    devices: { cameras: [], microphones: [], speakers: [], screens: [] },
    inUse: { camera: null, microphone: null, speaker: null },
    removedDevices: [],
    hosting: null,
    access: { locked: false, passwordProtected: false },
    view: "grid",
    pinned: null,
    activeSpeaker: null,
    quality: {},
    callStats: null,
    slowLinks: { uplink: false, downlink: false },
    layers: [],
    statsOpen: false,
    playback: {},
  };
}

export function trackKey(memberId: MemberId, kind: TrackKind): string {
  return `${memberId}:${kind}`;
}

export function memberById(state: State, id: MemberId | null | undefined): Member | undefined {
  if (id == null) return undefined;
  return state.members.find((m) => m.id === id);
}

export function myMember(state: State): Member | undefined {
  return memberById(state, state.me);
}

/** How everyone plays until told otherwise: as sent. */
export const PLAYBACK_AS_SENT: Playback = { volume_percent: 100, muted: false };

/** How another member plays here. */
export function playbackOf(state: State, id: MemberId): Playback {
  return state.playback[id] ?? PLAYBACK_AS_SENT;
}

/**
 * What the connection pill says: reconnecting while either the room server
 * (signaling) or the media connection is, else the media connection's state.
 */
export function connectionState(state: State): MediaState {
  return state.reconnectAttempt !== null ? "reconnecting" : state.media;
}

export function isModerator(state: State): boolean {
  return state.role === "moderator";
}

/** Other members (everyone but me), oldest first. */
export function others(state: State): Member[] {
  return state.members.filter((m) => m.id !== state.me);
}

// ---- devices ---------------------------------------------------------------

const LIST_OF: Record<DeviceKind, keyof DeviceList> = {
  camera: "cameras",
  microphone: "microphones",
  speaker: "speakers",
  screen: "screens",
};

/** The devices of one kind in a list. */
export function devicesOf(list: DeviceList, kind: DeviceKind): Device[] {
  return list[LIST_OF[kind]] ?? [];
}

function allDevices(list: DeviceList): Device[] {
  return [...list.cameras, ...list.microphones, ...list.speakers, ...list.screens];
}

/** Removed devices remembered to name them in errors. */
const REMEMBER_REMOVED = 20;

function rememberRemoved(state: State, removed: readonly Device[]): State {
  if (!removed.length) return state;
  const ids = new Set(removed.map((d) => d.id));
  const kept = [...state.removedDevices.filter((d) => !ids.has(d.id)), ...removed];
  return { ...state, removedDevices: kept.slice(-REMEMBER_REMOVED) };
}

/** The devices an error message may name: those listed now, then those removed lately. */
export function knownDevices(state: State): Device[] {
  return [...allDevices(state.devices), ...[...state.removedDevices].reverse()];
}

/** The list after a `devices.changed`: removed ids dropped, added ones appended (or replaced, if already listed). */
export function applyDeviceChanges(list: DeviceList, added: readonly Device[], removed: readonly Device[]): DeviceList {
  const next: DeviceList = { ...list };
  for (const d of removed) {
    const key = LIST_OF[d.kind];
    if (key) next[key] = next[key].filter((x) => x.id !== d.id);
  }
  for (const d of added) {
    const key = LIST_OF[d.kind];
    if (!key) continue;
    const at = next[key].findIndex((x) => x.id === d.id);
    next[key] = at >= 0 ? next[key].map((x, i) => (i === at ? d : x)) : [...next[key], d];
  }
  return next;
}

/** Real screens first (in the backend's order), synthetic ones last: what the share picker lists. */
export function screensForSharing(screens: readonly Device[]): Device[] {
  return [...screens.filter((d) => !d.synthetic), ...screens.filter((d) => d.synthetic)];
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const quoted = (d: Device) => `“${deviceLabel(d)}”`;

/** The warning for `camera.disconnected`, `microphone.disconnected`, `speaker.disconnected`. */
export function disconnectedText(kind: InUseKind, device: Device, fallback: Device | null): string {
  const gone = `${capitalize(kind)} ${quoted(device)} was disconnected.`;
  if (fallback) return `${gone} ${kind === "speaker" ? "Now playing on" : "Now using"} ${quoted(fallback)}.`;
  switch (kind) {
    case "camera":
      return `${gone} Your camera is off.`;
    case "microphone":
      return `${gone} Your microphone is muted.`;
    default:
      return `${gone} No other speaker is available.`;
  }
}

/** The note for devices plugged in (`devices.changed`); synthetic ones are not news. Null when there is nothing to say. */
export function addedText(added: readonly Device[]): string | null {
  const real = added.filter((d) => !d.synthetic);
  if (!real.length) return null;
  if (real.length === 1) return `New ${real[0].kind}: ${quoted(real[0])}`;
  return `New devices: ${real.map((d) => `${quoted(d)} (${d.kind})`).join(", ")}`;
}

const DEVICE_ERRORS: Partial<Record<ErrorCode, (name: string | null) => string>> = {
  device_not_found: (name) => `${name ? capitalize(name) : "The device"} is not available.`,
  device_busy: (name) => `${name ? capitalize(name) : "The device"} is in use by another program.`,
  device_permission_denied: (name) => `Access to ${name ?? "the device"} was denied.`,
  device_failed: (name) => `${name ? capitalize(name) : "The device"} stopped working.`,
};

/** The device an error message mentions: by id (the longest match), else by label. */
function deviceInMessage(message: string, known: readonly Device[]): Device | undefined {
  if (!message) return undefined;
  const longest = (key: (d: Device) => string) => {
    let found: Device | undefined;
    for (const d of known) {
      const k = key(d);
      if (k.length >= 3 && message.includes(k) && (!found || k.length > key(found).length)) found = d;
    }
    return found;
  };
  return longest((d) => d.id) ?? longest((d) => d.label);
}

/**
 * A sentence for an error (an `ErrorInfo`, a string, anything thrown). Device
 * errors name the device when the message mentions one of `known` (see
 * `knownDevices`); `request` (the command an `error` event names) helps when
 * it does not. `named` says whether the sentence names what failed, so a
 * caller need not prefix it.
 */
export function describeError(
  e: unknown,
  known: readonly Device[] = [],
  request: string | null = null,
): { text: string; named: boolean } {
  if (e && typeof e === "object") {
    const o = e as Partial<ErrorInfo> & { toString?: () => string };
    const device = typeof o.code === "string" ? DEVICE_ERRORS[o.code] : undefined;
    if (device) {
      const d = deviceInMessage(typeof o.message === "string" ? o.message : "", known);
      if (d) return { text: device(`${d.kind} ${quoted(d)}`), named: true };
      if (request === "start_share") return { text: device("the screen"), named: true };
      return { text: device(null), named: false };
    }
    if (typeof o.message === "string" && o.message) return { text: o.message, named: false };
    if (typeof o.code === "string") return { text: o.code.replace(/_/g, " "), named: false };
  }
  if (typeof e === "string" && e) return { text: e, named: false };
  return { text: "Something went wrong", named: false };
}

export function errorText(e: unknown, known: readonly Device[] = [], request: string | null = null): string {
  return describeError(e, known, request).text;
}

/** The warning while my link is slow (`link.slow`), per direction. */
export const SLOW_LINK_TEXT: Record<LinkDirection, string> = {
  uplink: "Your connection can't send full-quality video; others see you at lower quality",
  downlink: "Your connection is slow; video quality is lowered",
};

/** The condition (see `Toast`) of the `link.slow` warning for a direction. */
function slowLinkCondition(direction: LinkDirection): string {
  return `link.slow:${direction}`;
}

/** A new toast; one about a condition replaces the toast shown for that condition, if any. */
function pushToast(
  state: State,
  kind: ToastKind,
  text: string,
  event: string | null = null,
  code: ErrorCode | null = null,
  condition?: string,
): State {
  const toast: Toast = { id: state.nextToastId, kind, text, event, code, ...(condition ? { condition } : {}) };
  const toasts = [...(condition ? withoutCondition(state.toasts, condition) : state.toasts), toast];
  return {
    ...state,
    toasts: toasts.length > MAX_TOASTS ? toasts.slice(toasts.length - MAX_TOASTS) : toasts,
    nextToastId: state.nextToastId + 1,
  };
}

/** The toasts but those about `condition`, or about any condition when none is named. */
function withoutCondition(toasts: Toast[], condition?: string): Toast[] {
  return toasts.filter((t) => (condition === undefined ? !t.condition : t.condition !== condition));
}

/** The per-member parts of the state (quality, received layers, playback) for the members in `ids` only. */
function forMembers(state: State, ids: ReadonlySet<MemberId>): Pick<State, "quality" | "layers" | "playback"> {
  return {
    quality: Object.fromEntries(Object.entries(state.quality).filter(([id]) => ids.has(id))),
    layers: state.layers.filter((l) => ids.has(l.member_id)),
    playback: Object.fromEntries(Object.entries(state.playback).filter(([id]) => ids.has(id))),
  };
}

/**
 * Keeps `sharers` in step with the members' `screen_sharing` flags: drops
 * members who no longer share (or left), appends sharers not yet listed, and
 * picks the stage: the current one while it still shares, else the most
 * recent sharer.
 */
function syncSharers(state: State, preferred?: MemberId | null): State {
  const sharing = new Set(state.members.filter((m) => m.screen_sharing).map((m) => m.id));
  const sharers = state.sharers.filter((id) => sharing.has(id));
  for (const m of state.members) if (m.screen_sharing && !sharers.includes(m.id)) sharers.push(m.id);
  let stage: MemberId | null;
  if (preferred && sharers.includes(preferred)) stage = preferred;
  else if (state.stage && sharers.includes(state.stage)) stage = state.stage;
  else stage = sharers.length ? sharers[sharers.length - 1] : null;
  // Prefer someone else's screen over my own: mine is just a placeholder for me.
  if (stage === state.me && state.me !== null) {
    const remote = sharers.filter((id) => id !== state.me);
    if (remote.length) stage = remote[remote.length - 1];
  }
  if (
    stage === state.stage &&
    sharers.length === state.sharers.length &&
    sharers.every((id, i) => state.sharers[i] === id)
  ) {
    return state;
  }
  return { ...state, sharers, stage };
}

function updateMember(state: State, id: MemberId, patch: Partial<Member>): State {
  let changed = false;
  const members = state.members.map((m) => {
    if (m.id !== id) return m;
    changed = true;
    return { ...m, ...patch };
  });
  return changed ? { ...state, members } : state;
}

function leaveText(name: string, reason: LeaveReason): string {
  switch (reason) {
    case "kicked":
      return `${name} was removed from the room`;
    case "disconnected":
      return `${name} lost connection`;
    case "ended":
      return `${name} left: the meeting ended`;
    default:
      return `${name} left`;
  }
}

function toNumber(v: number | bigint | string | null | undefined): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string") return Number(v) || 0;
  return 0;
}

function inRoom(state: State): boolean {
  return state.phase === "room";
}

function leftRoom(state: State, room: string, reason: LeaveReason): State {
  return {
    ...initialState(),
    // The call's conditions (a slow link) end with it.
    toasts: withoutCondition(state.toasts),
    nextToastId: state.nextToastId,
    lastLeave: { room, reason },
    devices: state.devices,
    inUse: state.inUse,
    removedDevices: state.removedDevices,
    hosting: state.hosting,
    view: state.view,
  };
}

/**
 * The `room.joined` that follows a refused resume: the server took me in again
 * as a new member. Me, my role and the members are the server's now; the chat
 * I saw, the panels and the layout stay, so the call goes on where it was.
 * Remote tracks ended before this and start again; a new media connection follows,
 * with statistics and slow-link news of its own.
 */
function rejoined(state: State, p: Extract<Event, { event: "room.joined" }>["params"]): State {
  const members = [...p.members];
  const ids = new Set(members.map((m) => m.id));
  const present = (key: string | null) => key !== null && ids.has(key.slice(0, key.lastIndexOf(":")));
  return syncSharers({
    ...state,
    ...forMembers(state, ids),
    me: p.member_id,
    role: p.role,
    members,
    tracks: state.tracks.filter(present),
    toasts: withoutCondition(state.toasts),
    callStats: null,
    slowLinks: initialState().slowLinks,
    pinned: state.pinned?.startsWith("self:") || present(state.pinned) ? state.pinned : null,
    activeSpeaker: state.activeSpeaker !== null && ids.has(state.activeSpeaker) ? state.activeSpeaker : null,
    media: "connecting",
    reconnectAttempt: null,
    kickedBy: null,
  });
}

function setInUse(state: State, patch: Partial<DevicesInUse>): State {
  const inUse = { ...state.inUse };
  let changed = false;
  for (const kind of ["camera", "microphone", "speaker"] as const) {
    const id = patch[kind];
    if (id === undefined || inUse[kind] === id) continue;
    inUse[kind] = id;
    changed = true;
  }
  return changed ? { ...state, inUse } : state;
}

/** `camera.updated` -> `camera`. */
function eventKind(event: string): InUseKind {
  return event.slice(0, event.indexOf(".")) as InUseKind;
}

function addChat(
  state: State,
  entry: Omit<ChatEntry, "seq" | "mine">,
): State {
  const mine = entry.from === state.me;
  const chat = [...state.chat, { ...entry, seq: state.chat.length, mine }];
  const unread = state.chatOpen || mine ? state.unread : state.unread + 1;
  return { ...state, chat, unread };
}

export function reduce(state: State, action: Action): State {
  switch (action.event) {
    // ---- catalog events -------------------------------------------------
    case "room.joined": {
      const p = action.params;
      // After `room.reconnected` with resumed=false: the same call, as a new member.
      if (inRoom(state) && state.room === p.room) return rejoined(state, action.params);
      const next: State = {
        ...initialState(),
        phase: "room",
        room: p.room,
        me: p.member_id,
        role: p.role,
        members: [...p.members],
        media: "connecting",
        invite: state.invite,
        toasts: withoutCondition(state.toasts),
        nextToastId: state.nextToastId,
        devices: state.devices,
        inUse: state.inUse,
        removedDevices: state.removedDevices,
        hosting: state.hosting,
        view: state.view,
      };
      return syncSharers(next);
    }
    case "room.left": {
      if (!inRoom(state) && state.room === null) return state;
      const p = action.params;
      let next = state;
      if (p.reason === "disconnected") next = pushToast(next, "error", `Disconnected from ${p.room}`, action.event);
      // `kicked` already got its toast from `room.kicked`; add one if that never came.
      else if (p.reason === "kicked" && state.kickedBy === null)
        next = pushToast(next, "warning", "You were removed from the room", action.event);
      else if (p.reason === "ended") next = pushToast(next, "info", `The meeting in ${p.room} has ended`, action.event);
      return leftRoom(next, p.room, p.reason);
    }
    case "room.reconnecting":
      return inRoom(state) ? { ...state, reconnectAttempt: action.params.attempt } : state;
    case "room.reconnected": {
      if (!inRoom(state)) return state;
      const back = { ...state, reconnectAttempt: null };
      // Not resumed: a `room.joined` as a new member follows; the server's chat history is gone.
      return action.params.resumed
        ? pushToast(back, "success", "Reconnected", action.event)
        : pushToast(back, "warning", "Reconnected as a new member. Messages sent while you were away are not shown.", action.event);
    }
    case "room.updated": {
      if (!inRoom(state)) return state;
      const p = action.params;
      return { ...state, access: { locked: p.locked, passwordProtected: p.password_protected } };
    }
    case "room.kicked": {
      const p = action.params;
      const reason = p.reason ? `: ${p.reason}` : "";
      return {
        ...pushToast(state, "warning", `You were removed by ${p.by_name}${reason}`, action.event),
        kickedBy: p.by_name,
      };
    }
    case "member.joined": {
      if (!inRoom(state)) return state;
      const m = action.params.member;
      const members = state.members.some((x) => x.id === m.id)
        ? state.members.map((x) => (x.id === m.id ? m : x))
        : [...state.members, m];
      const next = syncSharers({ ...state, members });
      return m.id === state.me ? next : pushToast(next, "info", `${m.name} joined`, action.event);
    }
    case "member.left": {
      if (!inRoom(state)) return state;
      const p = action.params;
      const members = state.members.filter((m) => m.id !== p.member_id);
      const tracks = state.tracks.filter((k) => !k.startsWith(`${p.member_id}:`));
      const next = syncSharers({
        ...state,
        ...forMembers(state, new Set(members.map((m) => m.id))),
        members,
        tracks,
        pinned: state.pinned?.startsWith(`${p.member_id}:`) ? null : state.pinned,
        activeSpeaker: state.activeSpeaker === p.member_id ? null : state.activeSpeaker,
      });
      return pushToast(next, p.reason === "left" ? "info" : "warning", leaveText(p.name, p.reason), action.event);
    }
    case "member.updated": {
      if (!inRoom(state)) return state;
      const m = action.params.member;
      const exists = state.members.some((x) => x.id === m.id);
      const members = exists
        ? state.members.map((x) => (x.id === m.id ? m : x))
        : [...state.members, m];
      const startedSharing =
        action.params.updated.includes("screen_sharing") && m.screen_sharing ? m.id : null;
      return syncSharers({ ...state, members }, startedSharing);
    }
    case "member.talking": {
      if (!inRoom(state)) return state;
      const { member_id: id, talking } = action.params;
      const next = updateMember(state, id, { talking });
      // Speaker view follows whoever starts talking, never me; silence keeps the last one.
      return talking && id !== state.me && memberById(state, id) ? { ...next, activeSpeaker: id } : next;
    }
    case "memberList.updated": {
      if (!inRoom(state)) return state;
      // The server's list, my own state included (my changes come back as events once it took them).
      const members = [...action.params.members];
      const ids = new Set(members.map((m) => m.id));
      const tracks = state.tracks.filter((k) => ids.has(k.slice(0, k.lastIndexOf(":"))));
      return syncSharers({ ...state, ...forMembers(state, ids), members, tracks });
    }
    case "screenShare.started": {
      if (!inRoom(state)) return state;
      const id = action.params.member_id;
      const next = updateMember(state, id, { screen_sharing: true });
      const sharers = next.sharers.filter((x) => x !== id);
      sharers.push(id);
      return syncSharers({ ...next, sharers, stage: id }, id);
    }
    case "screenShare.ended": {
      if (!inRoom(state)) return state;
      const id = action.params.member_id;
      const next = updateMember(state, id, { screen_sharing: false });
      const tracks = next.tracks.filter((k) => k !== trackKey(id, "screen"));
      const pinned = next.pinned === trackKey(id, "screen") ? null : next.pinned;
      return syncSharers({ ...next, tracks, pinned });
    }
    case "track.started": {
      if (!inRoom(state)) return state;
      const key = trackKey(action.params.member_id, action.params.kind);
      return state.tracks.includes(key) ? state : { ...state, tracks: [...state.tracks, key] };
    }
    case "track.ended": {
      if (!inRoom(state)) return state;
      const key = trackKey(action.params.member_id, action.params.kind);
      return state.tracks.includes(key)
        ? { ...state, tracks: state.tracks.filter((k) => k !== key) }
        : state;
    }
    case "chat.message": {
      if (!inRoom(state)) return state;
      const p = action.params;
      return addChat(state, {
        from: p.from,
        fromName: p.from_name,
        to: null,
        toName: null,
        text: p.text,
        sentAtMs: toNumber(p.sent_at_ms),
        whisper: false,
      });
    }
    case "chat.whisper": {
      if (!inRoom(state)) return state;
      const p = action.params;
      return addChat(state, {
        from: p.from,
        fromName: p.from_name,
        to: p.to,
        toName: memberById(state, p.to)?.name ?? null,
        text: p.text,
        sentAtMs: toNumber(p.sent_at_ms),
        whisper: true,
      });
    }
    case "media.connected":
      return inRoom(state) ? { ...state, media: "connected" } : state;
    case "media.reconnecting":
      return inRoom(state) ? { ...state, media: "reconnecting" } : state;
    case "media.disconnected":
      return inRoom(state) ? { ...state, media: "disconnected" } : state;
    case "member.quality": {
      const { member_id: id, quality } = action.params;
      // Only for members in the room, so that the map never outgrows it.
      if (!inRoom(state) || !memberById(state, id) || state.quality[id] === quality) return state;
      return { ...state, quality: { ...state.quality, [id]: quality } };
    }
    case "call.stats":
      return inRoom(state) ? { ...state, callStats: action.params.stats } : state;
    case "link.slow": {
      const { direction, slow } = action.params;
      // One warning per change: a repeated flag is no news (nor is a direction this UI does not know).
      if (!inRoom(state) || !Object.keys(SLOW_LINK_TEXT).includes(direction) || state.slowLinks[direction] === slow) return state;
      const next = { ...state, slowLinks: { ...state.slowLinks, [direction]: slow } };
      const condition = slowLinkCondition(direction);
      return slow
        ? pushToast(next, "warning", SLOW_LINK_TEXT[direction], action.event, null, condition)
        : { ...next, toasts: withoutCondition(next.toasts, condition) };
    }
    case "video.layers": {
      if (!inRoom(state)) return state;
      const ids = new Set(state.members.map((m) => m.id));
      return { ...state, layers: action.params.layers.filter((l) => ids.has(l.member_id)) };
    }
    case "camera.updated":
    case "microphone.updated":
    case "speaker.updated":
      // The user's pick or a fallback after a disconnect (toasted then): no toast.
      return setInUse(state, { [eventKind(action.event)]: action.params.current.id });
    case "camera.disconnected":
    case "microphone.disconnected":
    case "speaker.disconnected": {
      const kind = eventKind(action.event);
      const p = action.params;
      let next = rememberRemoved(setInUse(state, { [kind]: p.fallback?.id ?? null }), [p.device]);
      // It is gone, even if `devices.changed` has not said so yet.
      const list = devicesOf(next.devices, kind);
      if (list.some((d) => d.id === p.device.id)) next = { ...next, devices: applyDeviceChanges(next.devices, [], [p.device]) };
      // No fallback: the camera is off / the microphone muted.
      const me = next.me;
      if (!p.fallback && me && inRoom(next)) {
        if (kind === "camera") next = updateMember(next, me, { video_muted: true });
        if (kind === "microphone") next = updateMember(next, me, { audio_muted: true });
      }
      return pushToast(next, "warning", disconnectedText(kind, p.device, p.fallback), action.event);
    }
    case "devices.changed": {
      const p = action.params;
      const next = rememberRemoved(
        { ...state, devices: applyDeviceChanges(state.devices, p.added ?? [], p.removed ?? []) },
        p.removed ?? [],
      );
      // Removed devices are toasted by `*.disconnected` when they were in use.
      const text = addedText(p.added ?? []);
      return text ? pushToast(next, "info", text, action.event) : next;
    }
    case "error": {
      const p = action.params;
      const code = p.error?.code ?? null;
      let text = errorText(p.error, knownDevices(state), p.request);
      let next = state;
      // A device error about the share (the shared screen went away): the backend stopped it.
      const me = myMember(state);
      if (p.request === "start_share" && code?.startsWith("device_") && me?.screen_sharing) {
        next = syncSharers(updateMember(state, me.id, { screen_sharing: false }));
        text += " Sharing stopped.";
      }
      return pushToast(next, "error", text, action.event, code);
    }

    // ---- UI-local actions ------------------------------------------------
    case "ui.chatOpen": {
      const open = action.params.open;
      return { ...state, chatOpen: open, unread: open ? 0 : state.unread };
    }
    case "ui.participantsOpen":
      // Independent of the chat: both panels may be open, stacked.
      return { ...state, participantsOpen: action.params.open };
    case "ui.statsOpen":
      return inRoom(state) ? { ...state, statsOpen: action.params.open } : state;
    case "ui.toast":
      return pushToast(state, action.params.kind, action.params.text);
    case "ui.dismissToast":
      return { ...state, toasts: state.toasts.filter((t) => t.id !== action.params.id) };
    case "ui.joinedInfo":
      return { ...state, invite: { ...action.params } };
    case "ui.hosting":
      return state.hosting === action.params.address ? state : { ...state, hosting: action.params.address };
    case "ui.reset":
      return leftRoom(state, state.room ?? "", "left");
    case "ui.devices":
      return { ...state, devices: { ...action.params } };
    case "ui.devicesInUse":
      return setInUse(state, action.params);
    case "ui.view":
      return { ...state, view: action.params.view };
    case "ui.pin":
      return inRoom(state) ? { ...state, pinned: action.params.tile } : state;
    case "ui.playback": {
      const { memberId, playback } = action.params;
      // Only for others in the room, so that the table never outgrows it.
      if (!inRoom(state) || memberId === state.me || !memberById(state, memberId)) return state;
      return { ...state, playback: { ...state.playback, [memberId]: { ...playback } } };
    }
    default:
      // A UI must ignore event names it does not know.
      return state;
  }
}
