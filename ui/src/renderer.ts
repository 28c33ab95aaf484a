// Draws frames into a tile's <canvas>. I420 frames: WebGL (three luminance
// textures and a BT.601 limited-range shader) where available, else Canvas2D
// with a JavaScript conversion (`?renderer=2d` in the URL, or
// `localStorage.conclaveRenderer = "2d"`, forces it). RGBA frames, converted
// by the backend: `putImageData` on a 2D canvas, with no conversion here and
// no GL read-back when WebKit composites in software.

import { chromaSize, i420ToRgba, type Frame, type FramePixels } from "./frames";

export type RendererKind = "webgl" | "2d" | "rgba-2d";

export interface FrameRenderer {
  readonly kind: RendererKind;
  /** The frames it draws. */
  readonly pixels: FramePixels;
  draw(frame: Frame): boolean;
  /** Frees GPU resources; the canvas stays. */
  dispose(): void;
}

/**
 * Browsers cap live WebGL contexts (WebKit and Chromium at 16) and silently
 * lose the oldest beyond that. A room can show 26 tiles, so only this many
 * tiles get WebGL; the rest draw with Canvas2D.
 */
export const MAX_GL_CONTEXTS = 12;
let liveGlContexts = 0;

export function forced2d(): boolean {
  try {
    const q = new URLSearchParams(window.location.search).get("renderer");
    if (q === "2d" || q === "canvas") return true;
    if (window.localStorage?.getItem("conclaveRenderer") === "2d") return true;
  } catch {
    // No location or storage (tests): not forced.
  }
  return (window as unknown as { __conclaveForce2d?: boolean }).__conclaveForce2d === true;
}

/** Creates the best renderer the canvas supports for frames of `pixels`. */
export function createRenderer(canvas: HTMLCanvasElement, pixels: FramePixels, preferGl = true): FrameRenderer | null {
  if (pixels === "rgba") return RgbaRenderer.create(canvas);
  if (preferGl && !forced2d() && liveGlContexts < MAX_GL_CONTEXTS) {
    const gl = GlRenderer.create(canvas);
    if (gl) return gl;
  }
  return Canvas2dRenderer.create(canvas);
}

const VERTEX = `
attribute vec2 a_pos;
varying vec2 v_uv;
void main() {
  v_uv = vec2((a_pos.x + 1.0) * 0.5, (1.0 - a_pos.y) * 0.5);
  gl_Position = vec4(a_pos, 0.0, 1.0);
}`;

const FRAGMENT = `
precision mediump float;
varying vec2 v_uv;
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
void main() {
  float y = 1.164383 * (texture2D(u_y, v_uv).r - 0.0627451);
  float u = texture2D(u_u, v_uv).r - 0.5019608;
  float v = texture2D(u_v, v_uv).r - 0.5019608;
  gl_FragColor = vec4(
    clamp(y + 1.596027 * v, 0.0, 1.0),
    clamp(y - 0.391762 * u - 0.812968 * v, 0.0, 1.0),
    clamp(y + 2.017232 * u, 0.0, 1.0),
    1.0);
}`;

class GlRenderer implements FrameRenderer {
  readonly kind = "webgl" as const;
  readonly pixels = "i420" as const;
  private textures: WebGLTexture[] = [];
  private sizes: Array<[number, number]> = [
    [0, 0],
    [0, 0],
    [0, 0],
  ];
  private lost = false;
  private disposed = false;

  private constructor(
    private canvas: HTMLCanvasElement,
    private gl: WebGLRenderingContext,
    private program: WebGLProgram,
    private buffer: WebGLBuffer,
  ) {
    liveGlContexts++;
    canvas.addEventListener("webglcontextlost", this.onLost);
    for (let i = 0; i < 3; i++) {
      const t = gl.createTexture()!;
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, t);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      this.textures.push(t);
    }
    gl.useProgram(program);
    gl.uniform1i(gl.getUniformLocation(program, "u_y"), 0);
    gl.uniform1i(gl.getUniformLocation(program, "u_u"), 1);
    gl.uniform1i(gl.getUniformLocation(program, "u_v"), 2);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  }

  static create(canvas: HTMLCanvasElement): GlRenderer | null {
    let gl: WebGLRenderingContext | null = null;
    try {
      gl = canvas.getContext("webgl", {
        preserveDrawingBuffer: true,
        alpha: false,
        antialias: false,
        depth: false,
        stencil: false,
        premultipliedAlpha: false,
        powerPreference: "low-power",
      }) as WebGLRenderingContext | null;
    } catch {
      gl = null;
    }
    if (!gl) return null;
    const program = link(gl);
    if (!program) return null;
    const buffer = gl.createBuffer();
    if (!buffer) return null;
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(program, "a_pos");
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    return new GlRenderer(canvas, gl, program, buffer);
  }

  private onLost = (e: Event) => {
    e.preventDefault();
    this.lost = true;
  };

  get isLost(): boolean {
    return this.lost;
  }

  draw(frame: Frame): boolean {
    if (this.lost || this.disposed) return false;
    const gl = this.gl;
    const { width: w, height: h } = frame;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const { cw, ch } = chromaSize(w, h);
    const planes: Array<[Uint8Array, number, number]> = [
      [frame.y, w, h],
      [frame.u, cw, ch],
      [frame.v, cw, ch],
    ];
    for (let i = 0; i < 3; i++) {
      const [data, pw, ph] = planes[i];
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[i]);
      const [sw, sh] = this.sizes[i];
      if (sw !== pw || sh !== ph) {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, pw, ph, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
        this.sizes[i] = [pw, ph];
      } else {
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, pw, ph, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      }
    }
    gl.viewport(0, 0, w, h);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    return !gl.isContextLost();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveGlContexts = Math.max(0, liveGlContexts - 1);
    this.canvas.removeEventListener("webglcontextlost", this.onLost);
    const gl = this.gl;
    if (!gl.isContextLost()) {
      for (const t of this.textures) gl.deleteTexture(t);
      gl.deleteBuffer(this.buffer);
      gl.deleteProgram(this.program);
      // Give the context back now instead of at garbage collection.
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
  }
}

function compile(gl: WebGLRenderingContext, type: number, src: string): WebGLShader | null {
  const s = gl.createShader(type);
  if (!s) return null;
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) {
    console.warn("conclave: shader did not compile", gl.getShaderInfoLog(s));
    gl.deleteShader(s);
    return null;
  }
  return s;
}

function link(gl: WebGLRenderingContext): WebGLProgram | null {
  const vs = compile(gl, gl.VERTEX_SHADER, VERTEX);
  const fs = compile(gl, gl.FRAGMENT_SHADER, FRAGMENT);
  if (!vs || !fs) return null;
  const p = gl.createProgram();
  if (!p) return null;
  gl.attachShader(p, vs);
  gl.attachShader(p, fs);
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) {
    console.warn("conclave: program did not link", gl.getProgramInfoLog(p));
    return null;
  }
  return p;
}

class Canvas2dRenderer implements FrameRenderer {
  readonly kind = "2d" as const;
  readonly pixels = "i420" as const;
  private image: ImageData | null = null;

  private constructor(
    private canvas: HTMLCanvasElement,
    private ctx: CanvasRenderingContext2D,
  ) {}

  static create(canvas: HTMLCanvasElement): Canvas2dRenderer | null {
    let ctx: CanvasRenderingContext2D | null = null;
    try {
      ctx = canvas.getContext("2d", { alpha: false });
    } catch {
      ctx = null;
    }
    return ctx ? new Canvas2dRenderer(canvas, ctx) : null;
  }

  draw(frame: Frame): boolean {
    const { width: w, height: h } = frame;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      this.image = this.ctx.createImageData(w, h);
    }
    i420ToRgba(frame, this.image.data);
    this.ctx.putImageData(this.image, 0, 0);
    return true;
  }

  dispose(): void {
    this.image = null;
  }
}

/** RGBA frames as they come: one `putImageData`, the pixels used in place. */
class RgbaRenderer implements FrameRenderer {
  readonly kind = "rgba-2d" as const;
  readonly pixels = "rgba" as const;

  private constructor(
    private canvas: HTMLCanvasElement,
    private ctx: CanvasRenderingContext2D,
  ) {}

  static create(canvas: HTMLCanvasElement): RgbaRenderer | null {
    let ctx: CanvasRenderingContext2D | null = null;
    try {
      ctx = canvas.getContext("2d", { alpha: false });
    } catch {
      ctx = null;
    }
    return ctx ? new RgbaRenderer(canvas, ctx) : null;
  }

  draw(frame: Frame): boolean {
    const { width: w, height: h } = frame;
    if (frame.pixels !== "rgba" || frame.rgba.length !== w * h * 4) return false;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.putImageData(new ImageData(frame.rgba, w, h), 0, 0);
    return true;
  }

  dispose(): void {}
}

export function isLostGl(r: FrameRenderer | null): boolean {
  return r instanceof GlRenderer && r.isLost;
}
