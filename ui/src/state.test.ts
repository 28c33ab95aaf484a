import { describe, expect, it } from "vitest";
import type { Event } from "./generated/Event";
import { last, member as m } from "./fixtures";
import { initialState, isModerator, MAX_TOASTS, myMember, others, reduce, type Action, type State } from "./state";



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
    const s = run([{ event: "ui.joinedInfo", params: { room_link: "conclave://h:1/standup", hosted_address: "h:1" } }, joined()]);
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

  it("memberList.updated replaces the list but keeps my own local state", () => {
    let s = run([{ event: "ui.localMedia", params: { audio_muted: false } }], inRoom());
    expect(myMember(s)?.audio_muted).toBe(false);
    s = reduce(s, { event: "memberList.updated", params: { members: [ada, grace, linus] } });
    expect(s.members.map((x) => x.id)).toEqual(["m1", "m2", "m3"]);
    // The list says Grace (me) is muted, but I unmuted locally.
    expect(myMember(s)?.audio_muted).toBe(false);
    s = reduce(s, { event: "memberList.updated", params: { members: [grace] } });
    expect(s.members.map((x) => x.id)).toEqual(["m2"]);
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

  it("my own share takes the stage only when nobody else shares", () => {
    let s = run([{ event: "ui.localShare", params: { sharing: true } }], inRoom());
    expect(s.stage).toBe("m2");
    expect(myMember(s)?.screen_sharing).toBe(true);
    s = reduce(s, { event: "screenShare.started", params: { member_id: "m1" } });
    expect(s.stage).toBe("m1");
    s = reduce(s, { event: "screenShare.ended", params: { member_id: "m1" } });
    expect(s.stage).toBe("m2");
    s = reduce(s, { event: "ui.localShare", params: { sharing: false } });
    expect(s.stage).toBeNull();
  });

  it("someone else sharing stays on the stage when I start sharing", () => {
    let s = run([{ event: "screenShare.started", params: { member_id: "m1" } }], inRoom());
    s = reduce(s, { event: "ui.localShare", params: { sharing: true } });
    expect(s.stage).toBe("m1");
    expect(s.sharers).toContain("m2");
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
    expect(s.toasts).toEqual([{ id: 1, kind: "error", text: "only moderators may kick" }]);
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

describe("local media", () => {
  it("ui.localMedia updates my member only", () => {
    const s = run([{ event: "ui.localMedia", params: { video_muted: true } }], inRoom());
    expect(myMember(s)?.video_muted).toBe(true);
    expect(myMember(s)?.audio_muted).toBe(true); // unchanged from the join
    expect(s.members[0].video_muted).toBe(false);
  });

  it("ui.localMedia outside a room does nothing", () => {
    const s0 = initialState();
    expect(reduce(s0, { event: "ui.localMedia", params: { audio_muted: true } })).toBe(s0);
  });
});
