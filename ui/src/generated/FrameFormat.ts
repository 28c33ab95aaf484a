// Written by `export_bindings_frame_format` in src-tauri/src/api.rs from
// `FrameHeader`, the one definition of the binary frame. Do not edit.

/** The version byte that starts every binary frame. */
export const FRAME_VERSION = 2;

/** The pixels byte: what the picture after the header is. */
export const FRAME_PIXELS_I420 = 0;
export const FRAME_PIXELS_RGBA = 1;

/** The header's size without the member id. */
export const FRAME_FIXED_HEADER_BYTES = 21;

/** A frame exactly as the backend writes it, and what it holds. */
export const FRAME_EXAMPLE = {
  memberId: "m7-é",
  kind: "screen",
  width: 4,
  height: 2,
  decodedAt: 1234.5,
  y: [1, 2, 3, 4, 5, 6, 7, 8],
  u: [20, 21],
  v: [30, 31],
  bytes: [2, 1, 0, 5, 0, 109, 55, 45, 195, 169, 4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 74, 147, 64, 1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 30, 31],
} as const;
