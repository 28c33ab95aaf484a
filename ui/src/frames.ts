// The frame socket's binary format and subscription messages.
//
// The binary frame is defined once, by `FrameHeader` in src-tauri/src/api.rs
// (its doc comment has the byte table): version, kind, pixels, member id,
// width, height, decoded-at time, then the picture: I420 planes, or RGBA
// converted by the backend (which one follows the frame path, `AppInfo.frame_path`). The version, the fixed
// header size and an example frame written by that code come from
// ./generated/FrameFormat.ts; frames.test.ts parses the example.

import { FRAME_FIXED_HEADER_BYTES, FRAME_PIXELS_I420, FRAME_PIXELS_RGBA, FRAME_VERSION } from "./generated/FrameFormat";
import type { FrameSubscription } from "./generated/FrameSubscription";
import type { TileRequest } from "./generated/TileRequest";

export { FRAME_VERSION };

export type VideoKind = "camera" | "screen";

export interface Frame {
  memberId: string;
  kind: VideoKind;
  width: number;
  height: number;
  /** When the frame was decoded, Unix time in ms. */
  decodedAt: number;
  pixels: FramePixels;
  /** The I420 planes (empty for an RGBA frame). */
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  /** The RGBA pixels, w*h*4 (empty for an I420 frame). */
  rgba: Uint8ClampedArray<ArrayBuffer>;
}

export type FramePixels = "i420" | "rgba";

const NO_BYTES = new Uint8Array(0);
const NO_PIXELS = new Uint8ClampedArray(0);

export function chromaSize(width: number, height: number): { cw: number; ch: number } {
  return { cw: Math.floor(width / 2), ch: Math.floor(height / 2) };
}

const decoder = new TextDecoder();

/** Parses one binary frame; `null` for anything malformed or of another version. */
export function parseFrame(buf: ArrayBuffer): Frame | null {
  if (buf.byteLength < 4) return null;
  const dv = new DataView(buf);
  if (dv.getUint8(0) !== FRAME_VERSION) return null;
  if (buf.byteLength < FRAME_FIXED_HEADER_BYTES) return null;
  const kindByte = dv.getUint8(1);
  if (kindByte > 1) return null;
  const pixelsByte = dv.getUint8(2);
  if (pixelsByte !== FRAME_PIXELS_I420 && pixelsByte !== FRAME_PIXELS_RGBA) return null;
  const n = dv.getUint16(3, true);
  let off = 5;
  if (buf.byteLength < n + FRAME_FIXED_HEADER_BYTES) return null;
  const memberId = decoder.decode(new Uint8Array(buf, off, n));
  off += n;
  const width = dv.getUint32(off, true);
  const height = dv.getUint32(off + 4, true);
  const decodedAt = dv.getFloat64(off + 8, true);
  off += 16;
  if (width === 0 || height === 0) return null;
  const kind = kindByte === 1 ? "screen" : "camera";
  if (pixelsByte === FRAME_PIXELS_RGBA) {
    const size = width * height * 4;
    if (buf.byteLength < off + size) return null;
    const rgba = new Uint8ClampedArray(buf, off, size);
    return { memberId, kind, width, height, decodedAt, pixels: "rgba", y: NO_BYTES, u: NO_BYTES, v: NO_BYTES, rgba };
  }
  const { cw, ch } = chromaSize(width, height);
  const ySize = width * height;
  const cSize = cw * ch;
  if (buf.byteLength < off + ySize + 2 * cSize) return null;
  const y = new Uint8Array(buf, off, ySize);
  const u = new Uint8Array(buf, off + ySize, cSize);
  const v = new Uint8Array(buf, off + ySize + cSize, cSize);
  return { memberId, kind, width, height, decodedAt, pixels: "i420", y, u, v, rgba: NO_PIXELS };
}

/** Writes the header of a frame into `buf`; returns where the picture starts. */
function writeHeader(
  buf: ArrayBuffer,
  id: Uint8Array,
  kind: VideoKind,
  pixels: number,
  width: number,
  height: number,
  decodedAt: number,
): number {
  const dv = new DataView(buf);
  dv.setUint8(0, FRAME_VERSION);
  dv.setUint8(1, kind === "screen" ? 1 : 0);
  dv.setUint8(2, pixels);
  dv.setUint16(3, id.length, true);
  new Uint8Array(buf, 5, id.length).set(id);
  const off = 5 + id.length;
  dv.setUint32(off, width, true);
  dv.setUint32(off + 4, height, true);
  dv.setFloat64(off + 8, decodedAt, true);
  return off + 16;
}

/** Builds an RGBA binary frame (used by the mock backend and tests). */
export function encodeRgbaFrame(
  memberId: string,
  kind: VideoKind,
  width: number,
  height: number,
  decodedAt: number,
  rgba: ArrayLike<number>,
): ArrayBuffer {
  const id = new TextEncoder().encode(memberId);
  const buf = new ArrayBuffer(id.length + FRAME_FIXED_HEADER_BYTES + width * height * 4);
  const off = writeHeader(buf, id, kind, FRAME_PIXELS_RGBA, width, height, decodedAt);
  new Uint8Array(buf, off).set(rgba);
  return buf;
}

/** Builds a binary frame (used by the mock backend and tests). */
export function encodeFrame(
  memberId: string,
  kind: VideoKind,
  width: number,
  height: number,
  decodedAt: number,
  fill: { y: number; u: number; v: number } | { y: Uint8Array; u: Uint8Array; v: Uint8Array },
): ArrayBuffer {
  const id = new TextEncoder().encode(memberId);
  const { cw, ch } = chromaSize(width, height);
  const ySize = width * height;
  const cSize = cw * ch;
  const header = id.length + FRAME_FIXED_HEADER_BYTES;
  const buf = new ArrayBuffer(header + ySize + 2 * cSize);
  const off = writeHeader(buf, id, kind, FRAME_PIXELS_I420, width, height, decodedAt);
  const y = new Uint8Array(buf, off, ySize);
  const u = new Uint8Array(buf, off + ySize, cSize);
  const v = new Uint8Array(buf, off + ySize + cSize, cSize);
  if (typeof fill.y === "number") {
    y.fill(fill.y);
    u.fill(fill.u as number);
    v.fill(fill.v as number);
  } else {
    y.set(fill.y);
    u.set(fill.u as Uint8Array);
    v.set(fill.v as Uint8Array);
  }
  return buf;
}

/** CSS pixels times devicePixelRatio, rounded to an even number (at least 2). */
export function devicePixels(cssPixels: number, dpr: number): number {
  const px = Math.round((cssPixels * (dpr > 0 ? dpr : 1)) / 2) * 2;
  return Math.max(2, px);
}

export function tileKey(memberId: string, kind: string): string {
  return `${memberId}:${kind}`;
}

/** A canonical subscription: sorted, so equal sets compare equal as JSON. */
export function subscription(tiles: TileRequest[]): FrameSubscription {
  const sorted = [...tiles].sort((a, b) =>
    a.member_id === b.member_id ? a.kind.localeCompare(b.kind) : a.member_id < b.member_id ? -1 : 1,
  );
  return { tiles: sorted };
}

/** BT.601 limited range: YUV (0..255) to RGB (0..255), clamped. */
export function yuvToRgb(y: number, u: number, v: number): [number, number, number] {
  const c = 1.164383 * (y - 16);
  const d = u - 128;
  const e = v - 128;
  const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
  return [clamp(c + 1.596027 * e), clamp(c - 0.391762 * d - 0.812968 * e), clamp(c + 2.017232 * d)];
}

/** RGB (0..255) to BT.601 limited-range YUV, the inverse of `yuvToRgb` (for the mock). */
export function rgbToYuv(r: number, g: number, b: number): { y: number; u: number; v: number } {
  const y = 16 + 0.256788 * r + 0.504129 * g + 0.097906 * b;
  const u = 128 - 0.148223 * r - 0.290993 * g + 0.439216 * b;
  const v = 128 + 0.439216 * r - 0.367788 * g - 0.071427 * b;
  const c = (x: number) => Math.max(0, Math.min(255, Math.round(x)));
  return { y: c(y), u: c(u), v: c(v) };
}

// Fixed-point tables for the Canvas2D fallback.
const Y_TAB = new Int32Array(256);
const RV_TAB = new Int32Array(256);
const GU_TAB = new Int32Array(256);
const GV_TAB = new Int32Array(256);
const BU_TAB = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  Y_TAB[i] = Math.round(1.164383 * (i - 16) * 1024);
  RV_TAB[i] = Math.round(1.596027 * (i - 128) * 1024);
  GU_TAB[i] = Math.round(0.391762 * (i - 128) * 1024);
  GV_TAB[i] = Math.round(0.812968 * (i - 128) * 1024);
  BU_TAB[i] = Math.round(2.017232 * (i - 128) * 1024);
}

/** Converts an I420 frame to RGBA into `out` (length w*h*4). */
export function i420ToRgba(frame: Frame, out: Uint8ClampedArray): void {
  const { width: w, height: h, y, u, v } = frame;
  const { cw, ch } = chromaSize(w, h);
  let o = 0;
  for (let row = 0; row < h; row++) {
    const yRow = row * w;
    const cRow = Math.min(row >> 1, ch - 1) * cw;
    for (let col = 0; col < w; col++) {
      const ci = cRow + Math.min(col >> 1, cw - 1);
      const yy = Y_TAB[y[yRow + col]];
      const uu = u[ci];
      const vv = v[ci];
      // Uint8ClampedArray clamps to 0..255 for us.
      out[o] = (yy + RV_TAB[vv] + 512) >> 10;
      out[o + 1] = (yy - GU_TAB[uu] - GV_TAB[vv] + 512) >> 10;
      out[o + 2] = (yy + BU_TAB[uu] + 512) >> 10;
      out[o + 3] = 255;
      o += 4;
    }
  }
}
