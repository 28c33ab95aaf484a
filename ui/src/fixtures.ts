// Members with defaults, for the unit tests and the dev-only mock backend.

import type { Member } from "./generated/Member";

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

export const last = <T>(a: T[]): T | undefined => a[a.length - 1];
