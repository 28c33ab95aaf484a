// Members and statistics with defaults, for the unit tests and the dev-only mock backend.

import type { CallStats } from "./generated/CallStats";
import type { Member } from "./generated/Member";
import type { TrackStats } from "./generated/TrackStats";

export const member = (id: string, name: string, patch: Partial<Member> = {}): Member => ({
  id,
  name,
  role: "participant",
  audio_muted: false,
  video_muted: false,
  screen_sharing: false,
  talking: false,
  reconnecting: false,
  ...patch,
});

/** One track's statistics over a period: my own microphone, sent, unless `patch` says otherwise. */
export const track = (patch: Partial<TrackStats> = {}): TrackStats => ({
  member_id: null,
  kind: "microphone",
  direction: "uplink",
  kbps: 32,
  loss_percent: 0,
  jitter_ms: null,
  fps: null,
  width: null,
  height: null,
  layer: null,
  ...patch,
});

export const callStats = (tracks: TrackStats[], patch: Partial<CallStats> = {}): CallStats => ({
  period_ms: 2000n,
  rtt_ms: 24,
  uplink_estimate_kbps: 2500,
  tracks,
  ...patch,
});

export const last = <T>(a: T[]): T | undefined => a[a.length - 1];
