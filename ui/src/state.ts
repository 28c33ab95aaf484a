// The UI's state and its pure reducer.
//
// `reduce(state, event)` folds the catalog events (see docs/events.md) and a few
// UI-local actions (named `ui.*`, never sent by the backend) into an immutable
// state. Views read the state; nothing here touches the DOM or the backend.

import type { Event } from "./generated/Event";
import type { ErrorInfo } from "./generated/ErrorInfo";
import type { Joined } from "./generated/Joined";
import type { LeaveReason } from "./generated/LeaveReason";
import type { Member } from "./generated/Member";
import type { MemberId } from "./generated/MemberId";
import type { Role } from "./generated/Role";
import type { TrackKind } from "./generated/TrackKind";

export type Phase = "lobby" | "room";

/** State of the media (WebRTC) connection, for the connection indicator. */
export type MediaState = "idle" | "connecting" | "connected" | "reconnecting" | "disconnected";

export type ToastKind = "info" | "success" | "warning" | "error";

export interface Toast {
  id: number;
  kind: ToastKind;
  text: string;
}

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
  /** The invite details from the `join` command's answer. */
  invite: Joined | null;
  toasts: Toast[];
  nextToastId: number;
  /** Why the last session ended, once it has. */
  lastLeave: { room: string; reason: LeaveReason } | null;
  /** The moderator who removed me (between `room.kicked` and `room.left`). */
  kickedBy: string | null;
}

/** UI-local actions. Their names start with `ui.` so they never clash with catalog events. */
export type UiAction =
  | { event: "ui.chatOpen"; params: { open: boolean } }
  | { event: "ui.participantsOpen"; params: { open: boolean } }
  | { event: "ui.toast"; params: { kind: ToastKind; text: string } }
  | { event: "ui.dismissToast"; params: { id: number } }
  | { event: "ui.joinedInfo"; params: Joined }
  /** My own mute state changed (my own changes are not echoed to me as events). */
  | { event: "ui.localMedia"; params: { audio_muted?: boolean; video_muted?: boolean } }
  /** My own screen share started or stopped. */
  | { event: "ui.localShare"; params: { sharing: boolean } }
  /** Back to the lobby without a `room.left` (e.g. `leave` failed because the session is gone). */
  | { event: "ui.reset"; params: Record<string, never> };

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
    invite: null,
    toasts: [],
    nextToastId: 1,
    lastLeave: null,
    kickedBy: null,
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

export function isModerator(state: State): boolean {
  return state.role === "moderator";
}

/** Other members (everyone but me), oldest first. */
export function others(state: State): Member[] {
  return state.members.filter((m) => m.id !== state.me);
}

export function errorText(e: unknown): string {
  if (e && typeof e === "object") {
    const o = e as Partial<ErrorInfo> & { toString?: () => string };
    if (typeof o.message === "string" && o.message) return o.message;
    if (typeof o.code === "string") return o.code.replace(/_/g, " ");
  }
  if (typeof e === "string" && e) return e;
  return "Something went wrong";
}

function pushToast(state: State, kind: ToastKind, text: string): State {
  const toasts = [...state.toasts, { id: state.nextToastId, kind, text }];
  return {
    ...state,
    toasts: toasts.length > MAX_TOASTS ? toasts.slice(toasts.length - MAX_TOASTS) : toasts,
    nextToastId: state.nextToastId + 1,
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
    toasts: state.toasts,
    nextToastId: state.nextToastId,
    lastLeave: { room, reason },
  };
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
      const next: State = {
        ...initialState(),
        phase: "room",
        room: p.room,
        me: p.member_id,
        role: p.role,
        members: [...p.members],
        media: "connecting",
        invite: state.invite,
        toasts: state.toasts,
        nextToastId: state.nextToastId,
      };
      return syncSharers(next);
    }
    case "room.left": {
      if (!inRoom(state) && state.room === null) return state;
      const p = action.params;
      let next = state;
      if (p.reason === "disconnected") next = pushToast(next, "error", `Disconnected from ${p.room}`);
      // `kicked` already got its toast from `room.kicked`; add one if that never came.
      else if (p.reason === "kicked" && state.kickedBy === null)
        next = pushToast(next, "warning", "You were removed from the room");
      return leftRoom(next, p.room, p.reason);
    }
    case "room.kicked": {
      const p = action.params;
      const reason = p.reason ? `: ${p.reason}` : "";
      return {
        ...pushToast(state, "warning", `You were removed by ${p.by_name}${reason}`),
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
      return m.id === state.me ? next : pushToast(next, "info", `${m.name} joined`);
    }
    case "member.left": {
      if (!inRoom(state)) return state;
      const p = action.params;
      const members = state.members.filter((m) => m.id !== p.member_id);
      const tracks = state.tracks.filter((k) => !k.startsWith(`${p.member_id}:`));
      const next = syncSharers({ ...state, members, tracks });
      return pushToast(next, p.reason === "left" ? "info" : "warning", leaveText(p.name, p.reason));
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
      return updateMember(state, action.params.member_id, { talking: action.params.talking });
    }
    case "memberList.updated": {
      if (!inRoom(state)) return state;
      const members = [...action.params.members];
      // Keep my own local state (my changes are not echoed to me, and a list
      // sent while my request is in flight may be older than what I know).
      const mine = myMember(state);
      const merged = mine
        ? members.map((m) =>
            m.id === mine.id
              ? {
                  ...m,
                  audio_muted: mine.audio_muted,
                  video_muted: mine.video_muted,
                  screen_sharing: mine.screen_sharing,
                }
              : m,
          )
        : members;
      const ids = new Set(merged.map((m) => m.id));
      const tracks = state.tracks.filter((k) => ids.has(k.slice(0, k.lastIndexOf(":"))));
      return syncSharers({ ...state, members: merged, tracks });
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
      return syncSharers({ ...next, tracks });
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
    case "error": {
      const p = action.params;
      return pushToast(state, "error", errorText(p.error));
    }

    // ---- UI-local actions ------------------------------------------------
    case "ui.chatOpen": {
      const open = action.params.open;
      return { ...state, chatOpen: open, unread: open ? 0 : state.unread };
    }
    case "ui.participantsOpen":
      // Independent of the chat: both panels may be open, stacked.
      return { ...state, participantsOpen: action.params.open };
    case "ui.toast":
      return pushToast(state, action.params.kind, action.params.text);
    case "ui.dismissToast":
      return { ...state, toasts: state.toasts.filter((t) => t.id !== action.params.id) };
    case "ui.joinedInfo":
      return { ...state, invite: { ...action.params } };
    case "ui.localMedia": {
      if (!state.me) return state;
      const patch: Partial<Member> = {};
      if (action.params.audio_muted !== undefined) patch.audio_muted = action.params.audio_muted;
      if (action.params.video_muted !== undefined) patch.video_muted = action.params.video_muted;
      return updateMember(state, state.me, patch);
    }
    case "ui.localShare": {
      if (!state.me) return state;
      const next = updateMember(state, state.me, { screen_sharing: action.params.sharing });
      return syncSharers(next, action.params.sharing ? state.me : null);
    }
    case "ui.reset":
      return leftRoom(state, state.room ?? "", "left");
    default:
      // A UI must ignore event names it does not know.
      return state;
  }
}
