// Per-tile frame statistics, exposed as `window.__conclaveStats()` for
// benchmarks and tests.

export interface TileStats {
  frames: number;
  fps: number;
  latency_p50_ms: number | null;
  renderer?: string;
  /** Size of the last frame drawn, as scaled by the backend for this tile. */
  width?: number;
  height?: number;
}

/** Start-up figures, in ms; null until they happen. */
export interface Timings {
  /** From the process start to the lobby on screen. */
  launch_to_lobby_ms: number | null;
  /** From the Join click to the first remote video frame drawn. */
  join_to_first_remote_frame_ms: number | null;
}

export interface StatsReport {
  tiles: Record<string, TileStats>;
  timings: Timings;
}

const WINDOW_MS = 1000;
const LATENCY_SAMPLES = 120;

class TileCounter {
  frames = 0;
  renderer = "";
  width = 0;
  height = 0;
  private times: number[] = [];
  private latencies: number[] = [];

  record(now: number, latencyMs: number): void {
    this.frames++;
    this.times.push(now);
    while (this.times.length && now - this.times[0] > WINDOW_MS) this.times.shift();
    if (Number.isFinite(latencyMs)) {
      this.latencies.push(latencyMs);
      if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
    }
  }

  fps(now: number): number {
    const recent = this.times.filter((t) => now - t <= WINDOW_MS);
    if (recent.length < 2) return recent.length;
    const span = recent[recent.length - 1] - recent[0];
    // Frames per second over the last window, from the spacing of the frames in it.
    return span > 0 ? Math.round(((recent.length - 1) * 1000 * 10) / span) / 10 : recent.length;
  }

  p50(): number | null {
    return median(this.latencies);
  }
}

export function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const m = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return Math.round(m * 100) / 100;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Wall-clock now in Unix ms, at sub-millisecond resolution. */
export function wallNow(): number {
  const origin = performance.timeOrigin;
  // Older engines lack timeOrigin: derive it from the wall clock.
  return (Number.isFinite(origin) ? origin : Date.now() - performance.now()) + performance.now();
}

export class FrameStats {
  private tiles = new Map<string, TileCounter>();
  private timings: Timings = { launch_to_lobby_ms: null, join_to_first_remote_frame_ms: null };
  private joinClickedAt: number | null = null;

  /** Records one drawn frame of tile `key`, decoded at `decodedAt` (Unix ms). */
  record(key: string, decodedAt: number, renderer: string, size?: { width: number; height: number }, drawnAt = wallNow()): void {
    let c = this.tiles.get(key);
    if (!c) {
      c = new TileCounter();
      this.tiles.set(key, c);
    }
    c.renderer = renderer;
    if (size) ({ width: c.width, height: c.height } = size);
    c.record(drawnAt, drawnAt - decodedAt);
    if (this.joinClickedAt !== null && !key.startsWith("self:")) {
      this.timings.join_to_first_remote_frame_ms = round(drawnAt - this.joinClickedAt);
      this.joinClickedAt = null;
    }
  }

  /** The lobby is on screen; `launchedAt` is the process start (Unix ms). */
  lobbyShown(launchedAt: number, now = wallNow()): void {
    if (this.timings.launch_to_lobby_ms === null && launchedAt > 0) this.timings.launch_to_lobby_ms = round(now - launchedAt);
  }

  /** Join was clicked: the next remote frame drawn ends the join timing. */
  joinClicked(now = wallNow()): void {
    this.joinClickedAt = now;
    this.timings.join_to_first_remote_frame_ms = null;
  }

  report(now = wallNow()): StatsReport {
    const tiles: Record<string, TileStats> = {};
    for (const [key, c] of this.tiles) {
      tiles[key] = { frames: c.frames, fps: c.fps(now), latency_p50_ms: c.p50(), renderer: c.renderer, width: c.width, height: c.height };
    }
    return { tiles, timings: { ...this.timings } };
  }

  reset(): void {
    this.tiles.clear();
  }
}
