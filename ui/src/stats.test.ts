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
    for (let i = 0; i < 30; i++) s.record("m1:camera", t0 + i * 50 - 5 - (i % 3), "webgl", t0 + i * 50);
    s.record("self:camera", t0, "2d", t0 + 12);
    const r = s.report(t0 + 29 * 50);
    expect(r.tiles["m1:camera"].frames).toBe(30);
    expect(r.tiles["m1:camera"].fps).toBe(20);
    expect(r.tiles["m1:camera"].latency_p50_ms).toBe(6);
    expect(r.tiles["m1:camera"].renderer).toBe("webgl");
    expect(r.tiles["self:camera"]).toMatchObject({ frames: 1, latency_p50_ms: 12, renderer: "2d" });
    // A second later with no frames the rate is 0 but the count stays.
    const later = s.report(t0 + 29 * 50 + 2000);
    expect(later.tiles["m1:camera"]).toMatchObject({ frames: 30, fps: 0 });
  });
});
