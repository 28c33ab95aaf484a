import { describe, expect, it } from "vitest";
import { FrameStats, median } from "./stats";

describe("stats", () => {
  it("median", () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("counts frames, fps over the last second and median latency per tile", () => {
    const s = new FrameStats();
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 30; i++) s.record("m1:camera", t0 + i * 50 - 5 - (i % 3), "webgl", { width: 640, height: 360 }, t0 + i * 50);
    s.record("self:camera", t0, "2d", undefined, t0 + 12);
    const r = s.report(t0 + 29 * 50);
    expect(r.tiles["m1:camera"].frames).toBe(30);
    expect(r.tiles["m1:camera"].fps).toBe(20);
    expect(r.tiles["m1:camera"].latency_p50_ms).toBe(6);
    expect(r.tiles["m1:camera"]).toMatchObject({ renderer: "webgl", width: 640, height: 360 });
    expect(r.tiles["self:camera"]).toMatchObject({ frames: 1, latency_p50_ms: 12, renderer: "2d" });
    // A second later with no frames the rate is 0 but the count stays.
    const later = s.report(t0 + 29 * 50 + 2000);
    expect(later.tiles["m1:camera"]).toMatchObject({ frames: 30, fps: 0 });
  });

  it("times launch to lobby, and Join to the first remote frame (not the self view)", () => {
    const s = new FrameStats();
    expect(s.report().timings).toEqual({ launch_to_lobby_ms: null, join_to_first_remote_frame_ms: null });
    s.lobbyShown(1000, 1420);
    s.lobbyShown(1000, 9000); // only the first showing counts
    s.joinClicked(5000);
    s.record("self:camera", 5100, "webgl", undefined, 5120);
    expect(s.report().timings.join_to_first_remote_frame_ms).toBeNull();
    s.record("m3:camera", 5600, "webgl", undefined, 5640);
    s.record("m4:camera", 5700, "webgl", undefined, 5800);
    expect(s.report().timings).toEqual({ launch_to_lobby_ms: 420, join_to_first_remote_frame_ms: 640 });
  });
});
