import { describe, expect, it } from "vitest";
import type { Event } from "./generated/Event";
import type { Member } from "./generated/Member";
import type { MemberField } from "./generated/MemberField";
import { callStats, last, member as m, track } from "./fixtures";
import type { Device } from "./generated/Device";
import type { DeviceKind } from "./generated/DeviceKind";
import {
  addedText,
  applyDeviceChanges,
  connectionState,
  disconnectedText,
  errorText,
  initialState,
  knownDevices,
  isModerator,
  MAX_TOASTS,
  myMember,
  others,
  playbackOf,
  reduce,
  screensForSharing,
  SLOW_LINK_TEXT,
  type Action,
  type State,
} from "./state";



const ada = m("m1", "Ada", { role: "moderator" });
const grace = m("m2", "Grace", { audio_muted: true });
const linus = m("m3", "Linus", { video_muted: true });

function run(actions: Action[], from: State = initialState()): State {
  return actions.reduce(reduce, from);
}

function joined(me = "m2", role: "moderator" | "participant" = "participant", members = [ada, grace]): Event {
  return { event: "room.joined", params: { room: "standup", member_id: me, role, members } };
}

const inRoom = () => run([joined()]);

/** `member.updated` for Grace (me in `inRoom`), as the backend sends it once the server took my change. */
function graceUpdated(patch: Partial<Member>, updated: MemberField[]): Event {
  return { event: "member.updated", params: { member: { ...grace, ...patch }, updated } };
}

describe("room.joined", () => {
  it("sets the room, me, my role and the members", () => {
    const s = inRoom();
    expect(s.phase).toBe("room");
    expect(s.room).toBe("standup");
    expect(s.me).toBe("m2");
    expect(s.role).toBe("participant");
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m2"]);
    expect(myMember(s)?.name).toBe("Grace");
    expect(others(s).map((x) => x.id)).toEqual(["m1"]);
    expect(isModerator(s)).toBe(false);
    expect(s.media).toBe("connecting");
  });

  it("knows a moderator", () => {
    expect(isModerator(run([joined("m1", "moderator")]))).toBe(true);
  });

  it("puts a member who is already sharing on the stage", () => {
    const s = run([joined("m2", "participant", [m("m1", "Ada", { screen_sharing: true }), grace])]);
    expect(s.stage).toBe("m1");
    expect(s.sharers).toEqual(["m1"]);
  });

  it("keeps the invite details the join command returned first", () => {
    const s = run([{ event: "ui.joinedInfo", params: { room_link: "conclave://h:1/standup", hosted_address: "h:1", link_is_local: false } }, joined()]);
    expect(s.invite?.hosted_address).toBe("h:1");
  });

  it("does not mutate the previous state", () => {
    const before = initialState();
    const snapshot = JSON.stringify(before);
    reduce(before, joined());
    expect(JSON.stringify(before)).toBe(snapshot);
  });
});

describe("members", () => {
  it("member.joined adds the member and toasts", () => {
    const s = run([{ event: "member.joined", params: { member: linus } }], inRoom());
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m2", "m3"]);
    expect(last(s.toasts)?.text).toBe("Linus joined");
  });

  it("member.joined for a known id replaces it instead of duplicating", () => {
    const s = run([{ event: "member.joined", params: { member: { ...ada, name: "Ada L" } } }], inRoom());
    expect(s.members.filter((x) => x.id === "m1")).toHaveLength(1);
    expect(s.members[0].name).toBe("Ada L");
  });

  it("member.left removes the member, their tracks, and toasts with the reason", () => {
    let s = run(
      [
        { event: "member.joined", params: { member: linus } },
        { event: "track.started", params: { member_id: "m3", kind: "camera" } },
        { event: "track.started", params: { member_id: "m1", kind: "camera" } },
      ],
      inRoom(),
    );
    s = reduce(s, { event: "member.left", params: { member_id: "m3", name: "Linus", reason: "left" } });
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m2"]);
    expect(s.tracks).toEqual(["m1:camera"]);
    expect(last(s.toasts)?.text).toBe("Linus left");
    s = reduce(s, { event: "member.left", params: { member_id: "m1", name: "Ada", reason: "kicked" } });
    expect(last(s.toasts)?.text).toBe("Ada was removed from the room");
    expect(last(s.toasts)?.kind).toBe("warning");
  });

  it("member.left with reason disconnected says so", () => {
    const s = run([{ event: "member.left", params: { member_id: "m1", name: "Ada", reason: "disconnected" } }], inRoom());
    expect(last(s.toasts)?.text).toBe("Ada lost connection");
  });

  it("member.updated replaces the member's state", () => {
    const s = run(
      [{ event: "member.updated", params: { member: { ...ada, audio_muted: true, video_muted: true }, updated: ["audio_muted", "video_muted"] } }],
      inRoom(),
    );
    expect(s.members[0].audio_muted).toBe(true);
    expect(s.members[0].video_muted).toBe(true);
  });

  it("member.talking sets talking", () => {
    let s = run([{ event: "member.talking", params: { member_id: "m1", talking: true } }], inRoom());
    expect(s.members[0].talking).toBe(true);
    s = reduce(s, { event: "member.talking", params: { member_id: "m1", talking: false } });
    expect(s.members[0].talking).toBe(false);
  });

  it("member.talking for an unknown member changes nothing", () => {
    const s0 = inRoom();
    expect(reduce(s0, { event: "member.talking", params: { member_id: "m9", talking: true } })).toBe(s0);
  });

  it("memberList.updated replaces the list, my own state included", () => {
    let s = run([graceUpdated({ audio_muted: false }, ["audio_muted"])], inRoom());
    expect(myMember(s)?.audio_muted).toBe(false);
    // The server's list is the truth, for me too.
    s = reduce(s, { event: "memberList.updated", params: { members: [ada, { ...grace, video_muted: true }, linus] } });
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m2", "m3"]);
    expect(myMember(s)).toMatchObject({ audio_muted: true, video_muted: true });
    s = reduce(s, { event: "memberList.updated", params: { members: [{ ...grace, screen_sharing: true }] } });
    expect(s.members.map((x) => x.id)).toEqual(["m2"]);
    expect(myMember(s)?.screen_sharing).toBe(true);
    expect(s.sharers).toEqual(["m2"]);
  });

  it("memberList.updated drops tracks of members no longer listed", () => {
    const s = run(
      [
        { event: "track.started", params: { member_id: "m1", kind: "camera" } },
        { event: "memberList.updated", params: { members: [grace] } },
      ],
      inRoom(),
    );
    expect(s.tracks).toEqual([]);
  });

  it("ignores member events outside a room", () => {
    const s0 = initialState();
    expect(reduce(s0, { event: "member.joined", params: { member: ada } })).toBe(s0);
    expect(reduce(s0, { event: "memberList.updated", params: { members: [ada] } })).toBe(s0);
    expect(reduce(s0, { event: "member.talking", params: { member_id: "m1", talking: true } })).toBe(s0);
  });
});

describe("screen share and the stage", () => {
  it("screenShare.started puts the sharer on the stage", () => {
    const s = run(
      [
        { event: "member.updated", params: { member: { ...ada, screen_sharing: true }, updated: ["screen_sharing"] } },
        { event: "screenShare.started", params: { member_id: "m1" } },
      ],
      inRoom(),
    );
    expect(s.stage).toBe("m1");
    expect(s.sharers).toEqual(["m1"]);
    expect(s.members[0].screen_sharing).toBe(true);
  });

  it("screenShare.started alone (no member.updated) is enough", () => {
    const s = run([{ event: "screenShare.started", params: { member_id: "m1" } }], inRoom());
    expect(s.stage).toBe("m1");
    expect(s.members[0].screen_sharing).toBe(true);
  });

  it("the latest sharer takes the stage; when they stop, the previous one returns", () => {
    let s = run(
      [
        { event: "member.joined", params: { member: linus } },
        { event: "screenShare.started", params: { member_id: "m1" } },
        { event: "screenShare.started", params: { member_id: "m3" } },
      ],
      inRoom(),
    );
    expect(s.stage).toBe("m3");
    expect(s.sharers).toEqual(["m1", "m3"]);
    s = reduce(s, { event: "screenShare.ended", params: { member_id: "m3" } });
    expect(s.stage).toBe("m1");
    s = reduce(s, { event: "screenShare.ended", params: { member_id: "m1" } });
    expect(s.stage).toBeNull();
    expect(s.sharers).toEqual([]);
  });

  it("screenShare.ended removes the screen track", () => {
    const s = run(
      [
        { event: "screenShare.started", params: { member_id: "m1" } },
        { event: "track.started", params: { member_id: "m1", kind: "screen" } },
        { event: "track.started", params: { member_id: "m1", kind: "camera" } },
        { event: "screenShare.ended", params: { member_id: "m1" } },
      ],
      inRoom(),
    );
    expect(s.tracks).toEqual(["m1:camera"]);
    expect(s.members[0].screen_sharing).toBe(false);
  });

  it("a sharer who leaves leaves the stage", () => {
    const s = run(
      [
        { event: "screenShare.started", params: { member_id: "m1" } },
        { event: "member.left", params: { member_id: "m1", name: "Ada", reason: "disconnected" } },
      ],
      inRoom(),
    );
    expect(s.stage).toBeNull();
    expect(s.sharers).toEqual([]);
  });

  it("my own share follows my member.updated and screenShare.* events", () => {
    let s = run([graceUpdated({ screen_sharing: true }, ["screen_sharing"])], inRoom());
    expect(myMember(s)?.screen_sharing).toBe(true);
    expect(s.sharers).toEqual(["m2"]);
    expect(s.stage).toBe("m2");
    s = reduce(s, { event: "screenShare.started", params: { member_id: "m2" } });
    expect(s.sharers).toEqual(["m2"]);
    s = run([graceUpdated({ screen_sharing: false }, ["screen_sharing"]), { event: "screenShare.ended", params: { member_id: "m2" } }], s);
    expect(myMember(s)?.screen_sharing).toBe(false);
    expect(s.sharers).toEqual([]);
    expect(s.stage).toBeNull();
  });

  it("my own share takes the stage only when nobody else shares", () => {
    let s = run([{ event: "screenShare.started", params: { member_id: "m2" } }], inRoom());
    expect(s.stage).toBe("m2");
    expect(myMember(s)?.screen_sharing).toBe(true);
    s = reduce(s, { event: "screenShare.started", params: { member_id: "m1" } });
    expect(s.stage).toBe("m1");
    s = reduce(s, { event: "screenShare.ended", params: { member_id: "m1" } });
    expect(s.stage).toBe("m2");
    s = reduce(s, { event: "screenShare.ended", params: { member_id: "m2" } });
    expect(s.stage).toBeNull();
  });

  it("someone else sharing stays on the stage when I start sharing", () => {
    let s = run([{ event: "screenShare.started", params: { member_id: "m1" } }], inRoom());
    s = run([graceUpdated({ screen_sharing: true }, ["screen_sharing"]), { event: "screenShare.started", params: { member_id: "m2" } }], s);
    expect(s.stage).toBe("m1");
    expect(s.sharers).toEqual(["m1", "m2"]);
  });
});

describe("tracks", () => {
  it("track.started and track.ended keep a set of member:kind keys", () => {
    let s = run(
      [
        { event: "track.started", params: { member_id: "m1", kind: "camera" } },
        { event: "track.started", params: { member_id: "m1", kind: "camera" } },
        { event: "track.started", params: { member_id: "m1", kind: "microphone" } },
      ],
      inRoom(),
    );
    expect(s.tracks).toEqual(["m1:camera", "m1:microphone"]);
    s = reduce(s, { event: "track.ended", params: { member_id: "m1", kind: "camera" } });
    expect(s.tracks).toEqual(["m1:microphone"]);
    const same = reduce(s, { event: "track.ended", params: { member_id: "m1", kind: "screen" } });
    expect(same).toBe(s);
  });
});

describe("chat", () => {
  const msg = (from: string, text: string): Event => ({
    event: "chat.message",
    params: { from, from_name: from === "m1" ? "Ada" : "Grace", text, sent_at_ms: 1767225600000n },
  });

  it("chat.message appends and counts unread while the panel is closed", () => {
    const s = run([msg("m1", "hi"), msg("m1", "there")], inRoom());
    expect(s.chat.map((c) => c.text)).toEqual(["hi", "there"]);
    expect(s.chat[0].whisper).toBe(false);
    expect(s.chat[0].sentAtMs).toBe(1767225600000);
    expect(s.unread).toBe(2);
  });

  it("accepts sent_at_ms as a plain JSON number", () => {
    const ev = { event: "chat.message", params: { from: "m1", from_name: "Ada", text: "x", sent_at_ms: 5 } } as unknown as Event;
    expect(run([ev], inRoom()).chat[0].sentAtMs).toBe(5);
  });

  it("my own messages are not unread", () => {
    const s = run([msg("m2", "mine")], inRoom());
    expect(s.chat[0].mine).toBe(true);
    expect(s.unread).toBe(0);
  });

  it("opening the chat clears unread; messages while open are not counted", () => {
    let s = run([msg("m1", "a"), msg("m1", "b")], inRoom());
    s = reduce(s, { event: "ui.chatOpen", params: { open: true } });
    expect(s.unread).toBe(0);
    expect(s.chatOpen).toBe(true);
    s = reduce(s, msg("m1", "c"));
    expect(s.unread).toBe(0);
    s = reduce(s, { event: "ui.chatOpen", params: { open: false } });
    s = reduce(s, msg("m1", "d"));
    expect(s.unread).toBe(1);
  });

  it("chat.whisper is shown only as a whisper, with its target", () => {
    const s = run(
      [{ event: "chat.whisper", params: { from: "m1", from_name: "Ada", to: "m2", text: "psst", sent_at_ms: 1n } }],
      inRoom(),
    );
    expect(s.chat).toHaveLength(1);
    expect(s.chat[0]).toMatchObject({ whisper: true, from: "m1", to: "m2", toName: "Grace", text: "psst", mine: false });
    expect(s.unread).toBe(1);
  });

  it("a whisper I sent is mine and not unread", () => {
    const s = run([{ event: "chat.whisper", params: { from: "m2", from_name: "Grace", to: "m1", text: "hey", sent_at_ms: 1n } }], inRoom());
    expect(s.chat[0]).toMatchObject({ whisper: true, mine: true, toName: "Ada" });
    expect(s.unread).toBe(0);
  });

  it("chat panel and participants panel open and close independently", () => {
    let s = run([{ event: "ui.chatOpen", params: { open: true } }], inRoom());
    s = reduce(s, { event: "ui.participantsOpen", params: { open: true } });
    expect(s.participantsOpen).toBe(true);
    expect(s.chatOpen).toBe(true);
    s = reduce(s, { event: "ui.chatOpen", params: { open: false } });
    expect(s.chatOpen).toBe(false);
    expect(s.participantsOpen).toBe(true);
  });

  it("chat outside a room is ignored", () => {
    const s0 = initialState();
    expect(reduce(s0, msg("m1", "x"))).toBe(s0);
  });
});

describe("leaving", () => {
  it("room.kicked toasts who removed me; room.left clears the room", () => {
    let s = run([{ event: "chat.message", params: { from: "m1", from_name: "Ada", text: "x", sent_at_ms: 1n } }], inRoom());
    s = reduce(s, { event: "room.kicked", params: { room: "standup", by: "m1", by_name: "Ada", reason: null } });
    expect(last(s.toasts)?.text).toBe("You were removed by Ada");
    s = reduce(s, { event: "room.left", params: { room: "standup", reason: "kicked" } });
    expect(s.phase).toBe("lobby");
    expect(s.room).toBeNull();
    expect(s.me).toBeNull();
    expect(s.members).toEqual([]);
    expect(s.chat).toEqual([]);
    expect(s.unread).toBe(0);
    expect(s.lastLeave).toEqual({ room: "standup", reason: "kicked" });
    // Only one "removed" toast.
    expect(s.toasts.filter((t) => t.text.startsWith("You were removed"))).toHaveLength(1);
  });

  it("room.kicked includes the reason when given", () => {
    const s = run([{ event: "room.kicked", params: { room: "standup", by: "m1", by_name: "Ada", reason: "wrong room" } }], inRoom());
    expect(last(s.toasts)?.text).toBe("You were removed by Ada: wrong room");
  });

  it("room.left kicked without room.kicked still explains", () => {
    const s = run([{ event: "room.left", params: { room: "standup", reason: "kicked" } }], inRoom());
    expect(last(s.toasts)?.text).toBe("You were removed from the room");
  });

  it("room.left disconnected toasts; left does not", () => {
    const a = run([{ event: "room.left", params: { room: "standup", reason: "disconnected" } }], inRoom());
    expect(last(a.toasts)?.text).toBe("Disconnected from standup");
    expect(last(a.toasts)?.kind).toBe("error");
    const b = run([{ event: "room.left", params: { room: "standup", reason: "left" } }], inRoom());
    expect(b.toasts).toEqual([]);
    expect(b.phase).toBe("lobby");
    expect(b.invite).toBeNull();
  });

  it("ui.reset goes back to the lobby", () => {
    const s = run([{ event: "ui.reset", params: {} }], inRoom());
    expect(s.phase).toBe("lobby");
  });
});

describe("reconnecting to the room server", () => {
  const reconnecting = (attempt: number): Event => ({ event: "room.reconnecting", params: { room: "standup", attempt } });
  const reconnected = (resumed: boolean): Event => ({ event: "room.reconnected", params: { room: "standup", resumed } });
  const hello: Event = { event: "chat.message", params: { from: "m1", from_name: "Ada", text: "hello", sent_at_ms: 1n } };

  it("room.reconnecting keeps the attempt and makes the connection state reconnecting, media or not", () => {
    let s = run([{ event: "media.connected", params: {} }, reconnecting(1)], inRoom());
    expect(s.reconnectAttempt).toBe(1);
    expect(s.media).toBe("connected");
    expect(connectionState(s)).toBe("reconnecting");
    s = reduce(s, reconnecting(3));
    expect(s.reconnectAttempt).toBe(3);
  });

  it("room.reconnected resumed: back as the same member, with a success toast", () => {
    const before = run([{ event: "media.connected", params: {} }, hello], inRoom());
    const s = run([reconnecting(2), reconnected(true)], before);
    expect(s.reconnectAttempt).toBeNull();
    expect(connectionState(s)).toBe("connected");
    expect(s.me).toBe("m2");
    expect(s.chat).toEqual(before.chat);
    expect(last(s.toasts)).toMatchObject({ kind: "success", text: "Reconnected", event: "room.reconnected" });
  });

  it("not resumed: the room.joined that follows makes me a new member, keeping the chat, panels and layout", () => {
    const gone = [
      { event: "ui.chatOpen", params: { open: true } },
      { event: "ui.participantsOpen", params: { open: true } },
      { event: "ui.view", params: { view: "speaker" } },
      { event: "ui.pin", params: { tile: "m1:camera" } },
      hello,
      { event: "track.started", params: { member_id: "m1", kind: "camera" } },
      { event: "media.connected", params: {} },
    ] satisfies Action[];
    let s = run([...gone, reconnecting(5), { event: "track.ended", params: { member_id: "m1", kind: "camera" } }, reconnected(false)], inRoom());
    expect(s.reconnectAttempt).toBeNull();
    expect(last(s.toasts)).toMatchObject({ kind: "warning", text: "Reconnected as a new member. Messages sent while you were away are not shown." });
    const newMe = m("m7", "Grace");
    s = reduce(s, joined("m7", "moderator", [ada, linus, newMe]));
    expect(s.phase).toBe("room");
    expect(s.me).toBe("m7");
    expect(s.role).toBe("moderator");
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m3", "m7"]);
    expect(s.chat.map((c) => [c.text, c.mine])).toEqual([["hello", false]]);
    expect([s.chatOpen, s.participantsOpen, s.view, s.pinned]).toEqual([true, true, "speaker", "m1:camera"]);
    // A new media connection follows.
    expect(s.media).toBe("connecting");
    expect(s.tracks).toEqual([]);
  });

  it("a rejoin drops a pin and the stage of members no longer there, and my old share", () => {
    const sharing = run(
      [
        { event: "member.updated", params: { member: { ...grace, screen_sharing: true }, updated: ["screen_sharing"] } },
        { event: "ui.pin", params: { tile: "m1:camera" } },
      ],
      inRoom(),
    );
    expect(sharing.stage).toBe("m2");
    const s = run([reconnected(false), joined("m9", "participant", [m("m9", "Grace")])], sharing);
    expect(s.pinned).toBeNull();
    expect(s.sharers).toEqual([]);
    expect(s.stage).toBeNull();
  });

  it("giving up: room.left disconnected goes to the lobby as before", () => {
    const s = run(
      [
        reconnecting(40),
        { event: "error", params: { error: { code: "connection_failed", message: "could not reach the room server" }, request: null } },
        { event: "room.left", params: { room: "standup", reason: "disconnected" } },
      ],
      inRoom(),
    );
    expect(s.phase).toBe("lobby");
    expect(s.reconnectAttempt).toBeNull();
    expect(s.lastLeave).toEqual({ room: "standup", reason: "disconnected" });
    expect(last(s.toasts)?.text).toBe("Disconnected from standup");
  });

  it("room.reconnecting and room.reconnected outside a room are ignored", () => {
    const s0 = initialState();
    expect(run([reconnecting(1), reconnected(true)], s0)).toBe(s0);
  });

  it("another member's reconnecting flag follows member.updated and memberList.updated", () => {
    let s = run([{ event: "member.updated", params: { member: { ...ada, reconnecting: true }, updated: ["reconnecting"] } }], inRoom());
    expect(s.members.find((x) => x.id === "m1")?.reconnecting).toBe(true);
    s = reduce(s, { event: "memberList.updated", params: { members: [ada, grace] } });
    expect(s.members.find((x) => x.id === "m1")?.reconnecting).toBe(false);
  });
});

describe("media and errors", () => {
  it("media.* drive the connection indicator", () => {
    let s = inRoom();
    expect(s.media).toBe("connecting");
    s = reduce(s, { event: "media.connected", params: {} });
    expect(s.media).toBe("connected");
    s = reduce(s, { event: "media.reconnecting", params: {} });
    expect(s.media).toBe("reconnecting");
    s = reduce(s, { event: "media.disconnected", params: {} });
    expect(s.media).toBe("disconnected");
  });

  it("media.* outside a room (e.g. after room.left) are ignored", () => {
    const s0 = initialState();
    expect(reduce(s0, { event: "media.disconnected", params: {} })).toBe(s0);
  });

  it("error queues an error toast with the message", () => {
    const s = run(
      [{ event: "error", params: { error: { code: "not_moderator", message: "only moderators may kick" }, request: "kick" } }],
      inRoom(),
    );
    expect(s.toasts).toEqual([{ id: 1, kind: "error", text: "only moderators may kick", event: "error", code: "not_moderator" }]);
  });

  it("error also works in the lobby", () => {
    const s = run([{ event: "error", params: { error: { code: "connection_failed", message: "" }, request: null } }]);
    expect(s.toasts[0].text).toBe("connection failed");
  });

  it("toasts get increasing ids, can be dismissed, and are capped", () => {
    let s = initialState();
    for (let i = 0; i < MAX_TOASTS + 3; i++) s = reduce(s, { event: "ui.toast", params: { kind: "info", text: `t${i}` } });
    expect(s.toasts).toHaveLength(MAX_TOASTS);
    expect(s.toasts[0].text).toBe("t3");
    const id = s.toasts[1].id;
    s = reduce(s, { event: "ui.dismissToast", params: { id } });
    expect(s.toasts.some((t) => t.id === id)).toBe(false);
  });

  it("unknown events are ignored", () => {
    const s0 = inRoom();
    expect(reduce(s0, { event: "room.renamed", params: {} } as unknown as Action)).toBe(s0);
  });
});

describe("my own media", () => {
  it("member.updated for me updates my member only", () => {
    const s = run([graceUpdated({ video_muted: true }, ["video_muted"])], inRoom());
    expect(myMember(s)?.video_muted).toBe(true);
    expect(myMember(s)?.audio_muted).toBe(true); // unchanged from the join
    expect(s.members[0].video_muted).toBe(false);
  });

  it("my own member.talking sets my talking", () => {
    let s = run([graceUpdated({ audio_muted: false }, ["audio_muted"]), { event: "member.talking", params: { member_id: "m2", talking: true } }], inRoom());
    expect(myMember(s)?.talking).toBe(true);
    s = reduce(s, { event: "member.talking", params: { member_id: "m2", talking: false } });
    expect(myMember(s)?.talking).toBe(false);
  });

  it("member.updated outside a room does nothing", () => {
    const s0 = initialState();
    expect(reduce(s0, graceUpdated({ audio_muted: false }, ["audio_muted"]))).toBe(s0);
  });
});

// ---- devices ------------------------------------------------------------------

const dev = (id: string, label: string, kind: DeviceKind, synthetic = false): Device => ({ id, label, kind, synthetic });
const tone = dev("synthetic:tone", "Tone (synthetic)", "microphone", true);
const usbMic = dev("pulse:usb-mic", "USB Mic", "microphone");
const headsetMic = dev("pulse:headset-mic", "Headset Mic", "microphone");
const pattern = dev("synthetic:test-pattern", "Test pattern (synthetic)", "camera", true);
const webcam = dev("v4l2:/dev/video0", "Webcam", "camera");
const discard = dev("synthetic:discard", "No speaker (synthetic)", "speaker", true);
const nullOut = dev("pulse:null", "Null Output", "speaker");
const other = dev("pulse:other", "Other", "speaker");
const synthScreen = dev("synthetic:screen", "Synthetic screen", "screen", true);
const screen0 = dev("screen:0", "Screen 1 (1920×1080)", "screen");
const screen1 = dev("screen:1", "Screen 2 (1280×1024)", "screen");

const withDevices = (s: State): State =>
  reduce(s, {
    event: "ui.devices",
    params: { cameras: [pattern, webcam], microphones: [tone, usbMic], speakers: [discard, nullOut, other], screens: [screen0, synthScreen] },
  });
const ids = (list: Device[]) => list.map((d) => d.id);

describe("device list", () => {
  it("ui.devices sets the list; it survives joining and leaving a room", () => {
    let s = withDevices(initialState());
    expect(ids(s.devices.microphones)).toEqual(["synthetic:tone", "pulse:usb-mic"]);
    s = run([joined()], s);
    expect(ids(s.devices.cameras)).toEqual(["synthetic:test-pattern", "v4l2:/dev/video0"]);
    s = run([{ event: "room.left", params: { room: "standup", reason: "left" } }], s);
    expect(ids(s.devices.speakers)).toEqual(["synthetic:discard", "pulse:null", "pulse:other"]);
  });

  it("devices.changed removes the removed ids and adds the added ones, per kind", () => {
    const s = run(
      [{ event: "devices.changed", params: { added: [headsetMic, screen1], removed: [usbMic, nullOut] } }],
      withDevices(initialState()),
    );
    expect(ids(s.devices.microphones)).toEqual(["synthetic:tone", "pulse:headset-mic"]);
    expect(ids(s.devices.speakers)).toEqual(["synthetic:discard", "pulse:other"]);
    expect(ids(s.devices.screens)).toEqual(["screen:0", "synthetic:screen", "screen:1"]);
    expect(ids(s.devices.cameras)).toEqual(["synthetic:test-pattern", "v4l2:/dev/video0"]);
  });

  it("devices.changed with a device already listed replaces it instead of duplicating", () => {
    const renamed = { ...usbMic, label: "USB Mic (front)" };
    const s = run([{ event: "devices.changed", params: { added: [renamed], removed: [] } }], withDevices(initialState()));
    expect(s.devices.microphones).toEqual([tone, renamed]);
  });

  it("devices.changed toasts added real devices only, with data-event, and never removals", () => {
    const s0 = withDevices(initialState());
    let s = run([{ event: "devices.changed", params: { added: [headsetMic], removed: [] } }], s0);
    expect(s.toasts).toEqual([{ id: 1, kind: "info", text: "New microphone: “Headset Mic”", event: "devices.changed", code: null }]);
    s = run([{ event: "devices.changed", params: { added: [], removed: [usbMic] } }], s0);
    expect(s.toasts).toEqual([]);
    s = run([{ event: "devices.changed", params: { added: [dev("synthetic:x", "X", "camera", true)], removed: [] } }], s0);
    expect(s.toasts).toEqual([]);
    expect(ids(s.devices.cameras)).toContain("synthetic:x");
  });

  it("applyDeviceChanges does not touch the list it was given", () => {
    const s0 = withDevices(initialState());
    const snapshot = JSON.stringify(s0.devices);
    applyDeviceChanges(s0.devices, [headsetMic], [usbMic]);
    expect(JSON.stringify(s0.devices)).toBe(snapshot);
  });

  it("addedText names one device, or several with their kinds", () => {
    expect(addedText([webcam])).toBe("New camera: “Webcam”");
    expect(addedText([headsetMic, tone, other])).toBe("New devices: “Headset Mic” (microphone), “Other” (speaker)");
    expect(addedText([tone])).toBeNull();
  });
});

describe("devices in use", () => {
  it("*.updated sets the device in use per kind, without a toast", () => {
    const s = run(
      [
        { event: "camera.updated", params: { previous: null, current: webcam } },
        { event: "microphone.updated", params: { previous: tone, current: usbMic } },
        { event: "speaker.updated", params: { previous: null, current: nullOut } },
      ],
      withDevices(inRoom()),
    );
    expect(s.inUse).toEqual({ camera: "v4l2:/dev/video0", microphone: "pulse:usb-mic", speaker: "pulse:null" });
    expect(s.toasts).toEqual([]);
  });

  it("*.updated works in the lobby too, and the ids survive joining and leaving", () => {
    let s = run([{ event: "camera.updated", params: { previous: null, current: webcam } }], withDevices(initialState()));
    expect(s.inUse.camera).toBe("v4l2:/dev/video0");
    s = run([joined(), { event: "room.left", params: { room: "standup", reason: "left" } }], s);
    expect(s.inUse.camera).toBe("v4l2:/dev/video0");
  });

  it("ui.devicesInUse sets only the kinds given", () => {
    const s = run(
      [
        { event: "ui.devicesInUse", params: { camera: "a", microphone: "b", speaker: null } },
        { event: "ui.devicesInUse", params: { microphone: "c" } },
      ],
      initialState(),
    );
    expect(s.inUse).toEqual({ camera: "a", microphone: "c", speaker: null });
  });

  it("speaker.disconnected with a fallback: the fallback is in use, the device leaves the list, a warning says so", () => {
    const s = run(
      [
        { event: "speaker.updated", params: { previous: null, current: nullOut } },
        { event: "speaker.disconnected", params: { device: nullOut, fallback: other } },
      ],
      withDevices(inRoom()),
    );
    expect(s.inUse.speaker).toBe("pulse:other");
    expect(ids(s.devices.speakers)).toEqual(["synthetic:discard", "pulse:other"]);
    expect(s.toasts).toEqual([
      {
        id: 1,
        kind: "warning",
        text: "Speaker “Null Output” was disconnected. Now playing on “Other”.",
        event: "speaker.disconnected",
        code: null,
      },
    ]);
    // devices.changed saying the same afterwards changes nothing more and adds no toast.
    const after = reduce(s, { event: "devices.changed", params: { added: [], removed: [nullOut] } });
    expect(ids(after.devices.speakers)).toEqual(["synthetic:discard", "pulse:other"]);
    expect(after.toasts).toHaveLength(1);
  });

  it("microphone.disconnected without a fallback: none in use and I am muted", () => {
    const s = run(
      [
        { event: "microphone.updated", params: { previous: null, current: usbMic } },
        { event: "microphone.disconnected", params: { device: usbMic, fallback: null } },
      ],
      withDevices(run([joined("m1")])),
    );
    expect(s.inUse.microphone).toBeNull();
    expect(myMember(s)?.audio_muted).toBe(true);
    expect(last(s.toasts)?.text).toBe("Microphone “USB Mic” was disconnected. Your microphone is muted.");
    expect(last(s.toasts)?.kind).toBe("warning");
    expect(last(s.toasts)?.event).toBe("microphone.disconnected");
  });

  it("camera.disconnected without a fallback turns my camera off; with one it stays on", () => {
    const off = run([{ event: "camera.disconnected", params: { device: webcam, fallback: null } }], withDevices(run([joined("m1")])));
    expect(off.inUse.camera).toBeNull();
    expect(myMember(off)?.video_muted).toBe(true);
    expect(last(off.toasts)?.text).toBe("Camera “Webcam” was disconnected. Your camera is off.");
    const on = run([{ event: "camera.disconnected", params: { device: webcam, fallback: pattern } }], withDevices(run([joined("m1")])));
    expect(on.inUse.camera).toBe("synthetic:test-pattern");
    expect(myMember(on)?.video_muted).toBe(false);
    expect(last(on.toasts)?.text).toBe("Camera “Webcam” was disconnected. Now using “Test pattern (synthetic)”.");
  });

  it("*.disconnected in the lobby updates the device in use and toasts", () => {
    const s = run([{ event: "microphone.disconnected", params: { device: usbMic, fallback: tone } }], withDevices(initialState()));
    expect(s.inUse.microphone).toBe("synthetic:tone");
    expect(last(s.toasts)?.text).toBe("Microphone “USB Mic” was disconnected. Now using “Tone (synthetic)”.");
  });
});

describe("device texts", () => {
  it("disconnectedText, with and without a fallback, per kind", () => {
    expect(disconnectedText("speaker", nullOut, other)).toBe("Speaker “Null Output” was disconnected. Now playing on “Other”.");
    expect(disconnectedText("speaker", nullOut, null)).toBe("Speaker “Null Output” was disconnected. No other speaker is available.");
    expect(disconnectedText("microphone", usbMic, headsetMic)).toBe("Microphone “USB Mic” was disconnected. Now using “Headset Mic”.");
    expect(disconnectedText("microphone", usbMic, null)).toBe("Microphone “USB Mic” was disconnected. Your microphone is muted.");
    expect(disconnectedText("camera", webcam, pattern)).toBe("Camera “Webcam” was disconnected. Now using “Test pattern (synthetic)”.");
    expect(disconnectedText("camera", webcam, null)).toBe("Camera “Webcam” was disconnected. Your camera is off.");
  });

  it("device error codes read as sentences, naming the device when the message mentions a listed one", () => {
    const list = knownDevices(withDevices(initialState()));
    expect(errorText({ code: "device_busy", message: "pulse:usb-mic is busy (another program may be using it)" }, list)).toBe(
      "Microphone “USB Mic” is in use by another program.",
    );
    expect(errorText({ code: "device_permission_denied", message: "v4l2:/dev/video0: access denied" }, list)).toBe(
      "Access to camera “Webcam” was denied.",
    );
    expect(errorText({ code: "device_not_found", message: "screen:0: no such device" }, list)).toBe("Screen “Screen 1 (1920×1080)” is not available.");
    expect(errorText({ code: "device_failed", message: "pulse:null stopped working: stream error" }, list)).toBe("Speaker “Null Output” stopped working.");
    expect(errorText({ code: "device_not_found", message: "pulse:gone: no such device" }, list)).toBe("The device is not available.");
    expect(errorText({ code: "device_busy", message: "" })).toBe("The device is in use by another program.");
    expect(errorText({ code: "device_permission_denied", message: "x" })).toBe("Access to the device was denied.");
  });

  it("a device removed lately is still named, by id or by label", () => {
    const s = run([{ event: "devices.changed", params: { added: [], removed: [usbMic, screen0] } }], withDevices(initialState()));
    expect(errorText({ code: "device_not_found", message: "pulse:usb-mic: no such device" }, knownDevices(s))).toBe(
      "Microphone “USB Mic” is not available.",
    );
    expect(errorText({ code: "device_failed", message: "Screen 1 (1920×1080) stopped working" }, knownDevices(s))).toBe(
      "Screen “Screen 1 (1920×1080)” stopped working.",
    );
  });

  it("the shared screen going away stops my share and says so", () => {
    let s = run([joined("m1"), { event: "screenShare.started", params: { member_id: "m1" } }], withDevices(initialState()));
    expect(myMember(s)?.screen_sharing).toBe(true);
    s = run(
      [
        { event: "devices.changed", params: { added: [], removed: [screen0] } },
        {
          event: "error",
          params: { error: { code: "device_not_found", message: "Screen 1 (1920×1080) (sharing stopped): no such device" }, request: "start_share" },
        },
      ],
      s,
    );
    expect(myMember(s)?.screen_sharing).toBe(false);
    expect(s.stage).toBeNull();
    expect(last(s.toasts)).toMatchObject({
      kind: "error",
      text: "Screen “Screen 1 (1920×1080)” is not available. Sharing stopped.",
      event: "error",
      code: "device_not_found",
    });
    // Without a device to name, the request says it was the screen.
    expect(errorText({ code: "device_failed", message: "gone" }, [], "start_share")).toBe("The screen stopped working.");
  });

  it("an error event with a device code toasts the sentence and keeps the code", () => {
    const s = run(
      [{ event: "error", params: { error: { code: "device_busy", message: "pulse:usb-mic is busy" }, request: null } }],
      withDevices(inRoom()),
    );
    expect(last(s.toasts)).toMatchObject({ kind: "error", text: "Microphone “USB Mic” is in use by another program.", event: "error", code: "device_busy" });
  });
});

describe("share picker order", () => {
  it("real screens first in their order, synthetic ones last", () => {
    expect(ids(screensForSharing([synthScreen, screen0, screen1]))).toEqual(["screen:0", "screen:1", "synthetic:screen"]);
    expect(ids(screensForSharing([screen0, synthScreen]))).toEqual(["screen:0", "synthetic:screen"]);
    expect(ids(screensForSharing([synthScreen]))).toEqual(["synthetic:screen"]);
  });
});

describe("connection quality, call statistics, slow links", () => {
  const quality = (member_id: string, q: "excellent" | "good" | "poor" | "lost"): Event => ({ event: "member.quality", params: { member_id, quality: q } });
  const slow = (direction: "uplink" | "downlink", on: boolean): Event => ({ event: "link.slow", params: { direction, slow: on, estimate_kbps: 300 } });
  const stats: Event = { event: "call.stats", params: { stats: callStats([track(), track({ member_id: "m1", kind: "camera", direction: "downlink", layer: 1 })]) } };
  const slowToasts = (s: State) => s.toasts.filter((t) => t.event === "link.slow");

  it("member.quality keeps each member's latest quality, mine included; unknown members and the lobby are ignored", () => {
    let s = run([quality("m1", "good"), quality("m2", "excellent"), quality("m1", "poor"), quality("m9", "lost")], inRoom());
    expect(s.quality).toEqual({ m1: "poor", m2: "excellent" });
    const same = reduce(s, quality("m1", "poor"));
    expect(same).toBe(s);
    expect(run([quality("m1", "good")]).quality).toEqual({});
  });

  it("members who leave drop out of the quality map and the received layers", () => {
    const layers: Event = { event: "video.layers", params: { layers: [{ member_id: "m1", kind: "camera", layer: 2 }, { member_id: "m3", kind: "camera", layer: null }, { member_id: "m9", kind: "camera", layer: 0 }] } };
    let s = run([{ event: "member.joined", params: { member: linus } }, quality("m1", "good"), quality("m3", "poor"), layers], inRoom());
    expect(s.layers).toEqual([{ member_id: "m1", kind: "camera", layer: 2 }, { member_id: "m3", kind: "camera", layer: null }]);
    s = reduce(s, { event: "member.left", params: { member_id: "m3", name: "Linus", reason: "left" } });
    expect(s.quality).toEqual({ m1: "good" });
    expect(s.layers.map((l) => l.member_id)).toEqual(["m1"]);
    // The server's list: Ada is gone too.
    s = reduce(s, { event: "memberList.updated", params: { members: [grace] } });
    expect(s.quality).toEqual({});
    expect(s.layers).toEqual([]);
  });

  it("ui.playback keeps how each other member plays here, only while they are in the room", () => {
    const play = (memberId: string, volume_percent: number, muted = false): Action => ({ event: "ui.playback", params: { memberId, playback: { volume_percent, muted } } });
    // Not me (m2), nobody unknown, and not in the lobby.
    expect(run([play("m2", 50), play("m9", 50)], inRoom()).playback).toEqual({});
    expect(run([play("m1", 50)]).playback).toEqual({});
    let s = run([{ event: "member.joined", params: { member: linus } }, play("m1", 50), play("m3", 0, true)], inRoom());
    expect(s.playback).toEqual({ m1: { volume_percent: 50, muted: false }, m3: { volume_percent: 0, muted: true } });
    expect(playbackOf(s, "m3").muted).toBe(true);
    s = reduce(s, { event: "member.left", params: { member_id: "m3", name: "Linus", reason: "left" } });
    expect(s.playback).toEqual({ m1: { volume_percent: 50, muted: false } });
    expect(playbackOf(s, "m3")).toEqual({ volume_percent: 100, muted: false });
    // The server's list: Ada is gone too.
    s = reduce(s, { event: "memberList.updated", params: { members: [grace] } });
    expect(s.playback).toEqual({});
  });

  it("call.stats keeps the latest statistics while in a room; leaving forgets them", () => {
    let s = run([stats], inRoom());
    expect(s.callStats?.tracks).toHaveLength(2);
    const next: Event = { event: "call.stats", params: { stats: callStats([], { rtt_ms: null }) } };
    s = reduce(s, next);
    expect(s.callStats).toEqual(callStats([], { rtt_ms: null }));
    expect(run([stats]).callStats).toBeNull();
    s = reduce(s, { event: "room.left", params: { room: "standup", reason: "left" } });
    expect(s.callStats).toBeNull();
  });

  it("link.slow warns once per change, one toast per direction, gone when the link recovers", () => {
    let s = run([slow("uplink", true), slow("uplink", true)], inRoom());
    expect(s.slowLinks).toEqual({ uplink: true, downlink: false });
    expect(slowToasts(s)).toEqual([
      { id: 1, kind: "warning", text: SLOW_LINK_TEXT.uplink, event: "link.slow", code: null, condition: "link.slow:uplink" },
    ]);
    s = run([slow("downlink", true)], s);
    expect(slowToasts(s).map((t) => t.text)).toEqual([SLOW_LINK_TEXT.uplink, "Your connection is slow; video quality is lowered"]);
    s = run([slow("uplink", false), slow("uplink", false)], s);
    expect(s.slowLinks).toEqual({ uplink: false, downlink: true });
    expect(slowToasts(s).map((t) => t.condition)).toEqual(["link.slow:downlink"]);
    // Slow again: a new warning, still just one for the direction.
    s = run([slow("uplink", true)], s);
    expect(slowToasts(s).map((t) => t.condition)).toEqual(["link.slow:downlink", "link.slow:uplink"]);
    // Dismissed: no new one until the link has recovered.
    s = run([{ event: "ui.dismissToast", params: { id: last(s.toasts)!.id } }, slow("uplink", true)], s);
    expect(slowToasts(s).map((t) => t.condition)).toEqual(["link.slow:downlink"]);
  });

  it("the slow-link warnings end with the call, or with a rejoin as a new member; other toasts stay", () => {
    const s = run([slow("downlink", true), { event: "ui.toast", params: { kind: "info", text: "hi" } }], inRoom());
    const left = reduce(s, { event: "room.left", params: { room: "standup", reason: "left" } });
    expect(left.toasts.map((t) => t.text)).toEqual(["hi"]);
    expect(left.slowLinks).toEqual({ uplink: false, downlink: false });
    const rejoined = run([quality("m1", "good"), quality("m2", "poor"), stats, joined("m7", "participant", [ada, m("m7", "Grace")])], s);
    expect(rejoined.toasts.map((t) => t.text)).toEqual(["hi"]);
    expect(rejoined.slowLinks.downlink).toBe(false);
    expect(rejoined.callStats).toBeNull();
    // My old member is gone: so is its quality.
    expect(rejoined.quality).toEqual({ m1: "good" });
    expect(run([slow("uplink", true)]).toasts).toEqual([]);
  });

  it("the statistics panel opens and closes in a room, and is closed in the next one", () => {
    let s = run([{ event: "ui.statsOpen", params: { open: true } }], inRoom());
    expect(s.statsOpen).toBe(true);
    s = run([{ event: "room.left", params: { room: "standup", reason: "left" } }, joined()], s);
    expect(s.statsOpen).toBe(false);
  });
});
