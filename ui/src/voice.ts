// The microphone's processing, as the lobby and the in-call Settings show
// it: noise suppression (off for music) and echo cancellation (off with a
// headset). Gain control and the high-pass filter stay on.
import type { VoiceSettings } from "./generated/VoiceSettings";
import { h } from "./dom";

export const VOICE_DEFAULT: VoiceSettings = {
  echo_cancellation: true,
  noise_suppression: true,
  gain_control: true,
  high_pass: true,
};

const TOGGLES: [keyof VoiceSettings, string, string][] = [
  ["noise_suppression", "Noise suppression", "Turn off for music"],
  ["echo_cancellation", "Echo cancellation", "Turn off with a headset"],
];

/**
 * The two toggles for `settings`, ids prefixed with `prefix`; `changed`
 * gets the settings after each change.
 */
export function voiceToggles(prefix: string, settings: VoiceSettings, changed: (next: VoiceSettings) => void): HTMLElement {
  let current = { ...settings };
  const group = h("div", { class: "voice-toggles", role: "group", "aria-label": "Microphone processing" });
  for (const [key, label, hint] of TOGGLES) {
    const input = h("input", { id: `${prefix}-${key.replace("_", "-")}`, type: "checkbox", "data-voice": key });
    input.checked = current[key];
    input.addEventListener("change", () => {
      current = { ...current, [key]: input.checked };
      changed(current);
    });
    group.append(
      h("label", { class: "voice-toggle", for: input.id }, input, h("span", { class: "voice-label" }, label), h("span", { class: "hint" }, hint)),
    );
  }
  return group;
}

/** Sets the toggles in `group` to `settings` (choices filled in later). */
export function showVoice(group: HTMLElement, settings: VoiceSettings): void {
  for (const input of group.querySelectorAll<HTMLInputElement>("input[data-voice]")) {
    input.checked = settings[input.dataset.voice as keyof VoiceSettings];
  }
}
