// What the views share: the backend API, the frame hub, the app info and the
// store. Kept separate so views do not import the app controller.

import type { Api } from "./backend";
import type { AppInfo } from "./generated/AppInfo";
import type { Device } from "./generated/Device";
import type { LobbyChoices } from "./generated/LobbyChoices";
import type { Action, State } from "./state";
import type { FrameHub } from "./video";

export interface Ctx {
  api: Api;
  hub: FrameHub;
  info: AppInfo;
  /** The choices the last join used (to show my name in the room). */
  choices: LobbyChoices | null;
  dispatch(a: Action): void;
  state(): State;
  /** Shows a rejected command as an error toast. */
  fail(e: unknown, what?: string): void;
  /** Asks the backend for the device list and puts it in the state (`state().devices`). */
  refreshDevices(): Promise<void>;
  /** Asks the backend whether this app still hosts a meeting (`state().hosting`). */
  refreshHosting(): Promise<void>;
  toast(text: string, kind?: "info" | "success" | "warning" | "error"): void;
}

/** A device's label for pickers; synthetic devices say so. */
export function deviceLabel(d: Device): string {
  const label = d.label || d.id;
  return d.synthetic && !/synthetic/i.test(label) ? `${label} (synthetic)` : label;
}
