import { describe, expect, it } from "vitest";
import { devicePixels, encodeFrame, encodeRgbaFrame, i420ToRgba, parseFrame, rgbToYuv, subscription, yuvToRgb } from "./frames";
import { FRAME_EXAMPLE } from "./generated/FrameFormat";

describe("frame format", () => {
  it("parses the example frame the Rust backend wrote, and encodes it the same", () => {
    const ex = FRAME_EXAMPLE;
    const f = parseFrame(new Uint8Array(ex.bytes).buffer)!;
    expect(f).not.toBeNull();
    expect(f.memberId).toBe(ex.memberId);
    expect(f.kind).toBe(ex.kind);
    expect([f.width, f.height, f.decodedAt]).toEqual([ex.width, ex.height, ex.decodedAt]);
    expect(Array.from(f.y)).toEqual(ex.y);
    expect(Array.from(f.u)).toEqual(ex.u);
    expect(Array.from(f.v)).toEqual(ex.v);
    const planes = { y: new Uint8Array(ex.y), u: new Uint8Array(ex.u), v: new Uint8Array(ex.v) };
    const encoded = encodeFrame(ex.memberId, ex.kind, ex.width, ex.height, ex.decodedAt, planes);
    expect(Array.from(new Uint8Array(encoded))).toEqual(ex.bytes);
  });

  it("parses what the spec describes, byte by byte", () => {
    // version 2, kind 1 (screen), pixels 0 (I420), id "m7", 4x2, decoded_at 1234.5, Y 8 bytes, U 2, V 2.
    const id = new TextEncoder().encode("m7");
    const buf = new ArrayBuffer(5 + id.length + 16 + 8 + 2 + 2);
    const dv = new DataView(buf);
    dv.setUint8(0, 2);
    dv.setUint8(1, 1);
    dv.setUint8(2, 0);
    dv.setUint16(3, id.length, true);
    new Uint8Array(buf, 5, id.length).set(id);
    dv.setUint32(7, 4, true);
    dv.setUint32(11, 2, true);
    dv.setFloat64(15, 1234.5, true);
    new Uint8Array(buf, 23).set([1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 30, 31]);
    const f = parseFrame(buf)!;
    expect(f).not.toBeNull();
    expect(f.memberId).toBe("m7");
    expect(f.kind).toBe("screen");
    expect(f.pixels).toBe("i420");
    expect([f.width, f.height]).toEqual([4, 2]);
    expect(f.decodedAt).toBe(1234.5);
    expect(Array.from(f.y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(f.u)).toEqual([20, 21]);
    expect(Array.from(f.v)).toEqual([30, 31]);
  });

  it("round-trips through encodeFrame, with a UTF-8 member id", () => {
    const buf = encodeFrame("self-é", "camera", 6, 4, 1700000000000.25, { y: 100, u: 110, v: 120 });
    const f = parseFrame(buf)!;
    expect(f.memberId).toBe("self-é");
    expect(f.kind).toBe("camera");
    expect([f.width, f.height, f.decodedAt]).toEqual([6, 4, 1700000000000.25]);
    expect(f.y.length).toBe(24);
    expect(f.u.length).toBe(6);
    expect(f.v.every((x) => x === 120)).toBe(true);
  });

  it("parses an RGBA frame: header, pixels byte 1, then w*h*4 bytes used in place", () => {
    const pixels = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 255];
    const buf = encodeRgbaFrame("m3", "camera", 2, 2, 42.5, pixels);
    expect(new DataView(buf).getUint8(2)).toBe(1);
    const f = parseFrame(buf)!;
    expect(f.pixels).toBe("rgba");
    expect([f.memberId, f.kind, f.width, f.height, f.decodedAt]).toEqual(["m3", "camera", 2, 2, 42.5]);
    expect(Array.from(f.rgba)).toEqual(pixels);
    expect(f.rgba.buffer).toBe(buf);
    expect(f.y.length).toBe(0);
    expect(parseFrame(buf.slice(0, buf.byteLength - 1))).toBeNull();
  });

  it("rejects other versions, unknown kinds and pixels, and short buffers", () => {
    const good = encodeFrame("m1", "camera", 2, 2, 0, { y: 1, u: 2, v: 3 });
    const badVersion = good.slice(0);
    new DataView(badVersion).setUint8(0, 1);
    expect(parseFrame(badVersion)).toBeNull();
    const badKind = good.slice(0);
    new DataView(badKind).setUint8(1, 7);
    expect(parseFrame(badKind)).toBeNull();
    const badPixels = good.slice(0);
    new DataView(badPixels).setUint8(2, 5);
    expect(parseFrame(badPixels)).toBeNull();
    expect(parseFrame(good.slice(0, good.byteLength - 1))).toBeNull();
    expect(parseFrame(new ArrayBuffer(2))).toBeNull();
  });
});

describe("colour conversion", () => {
  it("maps BT.601 limited-range black, white and grey", () => {
    expect(yuvToRgb(16, 128, 128)).toEqual([0, 0, 0]);
    expect(yuvToRgb(235, 128, 128)).toEqual([255, 255, 255]);
    expect(yuvToRgb(126, 128, 128)).toEqual([128, 128, 128]);
  });

  it("round-trips primary colours within a step", () => {
    for (const rgb of [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [38, 120, 110],
    ] as const) {
      const { y, u, v } = rgbToYuv(rgb[0], rgb[1], rgb[2]);
      const back = yuvToRgb(y, u, v);
      back.forEach((c, i) => expect(Math.abs(c - rgb[i])).toBeLessThanOrEqual(3));
    }
  });

  it("the Canvas2D fallback converts a frame like the reference formula", () => {
    const { y, u, v } = rgbToYuv(200, 40, 90);
    const f = parseFrame(encodeFrame("m1", "camera", 4, 4, 0, { y, u, v }))!;
    const out = new Uint8ClampedArray(4 * 4 * 4);
    i420ToRgba(f, out);
    const ref = yuvToRgb(y, u, v);
    for (let p = 0; p < 16; p++) {
      for (let c = 0; c < 3; c++) expect(Math.abs(out[p * 4 + c] - ref[c])).toBeLessThanOrEqual(1);
      expect(out[p * 4 + 3]).toBe(255);
    }
  });

  it("uses each chroma sample for a 2x2 block", () => {
    const Y = new Uint8Array(16).fill(126);
    const U = new Uint8Array([128, 128, 128, 128]);
    const V = new Uint8Array([128, 240, 128, 128]); // top-right block reddish
    const f = parseFrame(encodeFrame("m1", "camera", 4, 4, 0, { y: Y, u: U, v: V }))!;
    const out = new Uint8ClampedArray(64);
    i420ToRgba(f, out);
    const px = (x: number, yy: number) => Array.from(out.slice((yy * 4 + x) * 4, (yy * 4 + x) * 4 + 3));
    expect(px(0, 0)).toEqual([128, 128, 128]);
    expect(px(2, 0)[0]).toBeGreaterThan(200);
    expect(px(3, 1)[0]).toBeGreaterThan(200);
    expect(px(2, 2)).toEqual([128, 128, 128]);
  });
});

describe("subscription", () => {
  it("device pixels are CSS pixels times the ratio, rounded to even", () => {
    expect(devicePixels(321, 1)).toBe(322);
    expect(devicePixels(320, 1)).toBe(320);
    expect(devicePixels(100.4, 1.5)).toBe(150);
    expect(devicePixels(101, 1.25)).toBe(126);
    expect(devicePixels(0.2, 1)).toBe(2);
    expect(devicePixels(200, 0)).toBe(200);
  });

  it("is sorted so equal sets serialise equally", () => {
    const a = subscription([
      { member_id: "m2", kind: "camera", width: 2, height: 2 },
      { member_id: "m1", kind: "screen", width: 4, height: 4 },
      { member_id: "m1", kind: "camera", width: 6, height: 6 },
    ]);
    expect(a.tiles.map((t) => `${t.member_id}:${t.kind}`)).toEqual(["m1:camera", "m1:screen", "m2:camera"]);
  });
});
