import { describe, expect, it } from "vitest";
import { callStats, member, track } from "./fixtures";
import { initialState, reduce } from "./state";
import { layerName, statsRows } from "./statspanel";

const inRoom = reduce(initialState(), {
  event: "room.joined",
  params: { room: "standup", member_id: "m1", role: "participant", members: [member("m1", "Ada"), member("m2", "Grace"), member("m3", "Linus")] },
});

describe("call statistics rows", () => {
  it("names the layers", () => {
    expect([0, 1, 2, 3, null].map(layerName)).toEqual(["full", "half", "quarter", "—", "—"]);
  });

  it("lists my tracks first, then each member's in join order, by kind and layer, with every column filled in", () => {
    const stats = callStats([
      track({ member_id: "m3", kind: "microphone", direction: "downlink", kbps: 31.6, loss_percent: 0.25, jitter_ms: 3.4 }),
      track({ member_id: "m2", kind: "camera", direction: "downlink", kbps: 480.2, jitter_ms: 8.8, fps: 29.97, width: 640, height: 360, layer: 1 }),
      track({ kind: "camera", kbps: 150, fps: 15, width: 320, height: 180, layer: 2 }),
      track({ kind: "microphone", kbps: 32 }),
      track({ kind: "camera", kbps: 1500, fps: 30, width: 1280, height: 720, layer: 0 }),
      track({ member_id: "m9", kind: "camera", direction: "downlink", layer: null }),
    ]);
    const rows = statsRows(stats, inRoom);
    expect(rows.map((r) => r.key)).toEqual([
      "self:camera:uplink:0",
      "self:camera:uplink:2",
      "self:microphone:uplink:",
      "m2:camera:downlink:",
      "m3:microphone:downlink:",
      "m9:camera:downlink:",
    ]);
    expect(rows[0].cells).toEqual(["You", "Camera", "Up", "1500", "0.0", "—", "30", "1280×720", "full"]);
    expect(rows[3].cells).toEqual(["Grace", "Camera", "Down", "480", "0.0", "9", "30", "640×360", "half"]);
    expect(rows[4].cells).toEqual(["Linus", "Microphone", "Down", "32", "0.3", "3", "—", "—", "—"]);
    // Someone the member list does not know (yet): by id.
    expect(rows[5].cells[0]).toBe("m9");
  });
});
