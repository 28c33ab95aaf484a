#!/usr/bin/env bash
# System packages for building, running and testing Conclave on Debian 12.
set -euo pipefail

packages=(
  # Build
  build-essential pkg-config curl cmake
  # Media codecs (VP8 through libvpx, Opus)
  libvpx-dev libopus-dev
  # Devices: cpal links ALSA (we use its PulseAudio host); scrap captures X11 screens
  libasound2-dev libxcb1-dev libxcb-shm0-dev libxcb-randr0-dev
  # Tauri 2 on Linux (WebKitGTK 4.1)
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libsoup-3.0-dev libayatana-appindicator3-dev
  # End-to-end tests: a display, WebDriver for WebKitGTK, sound, screenshots
  xvfb webkit2gtk-driver pulseaudio pulseaudio-utils imagemagick x11-utils x11-xserver-utils
  # Packaging the .deb
  dpkg-dev fakeroot file
)

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null 2>&1 || {
  echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
}

# WebDriver for the Tauri window (drives WebKitWebDriver from webkit2gtk-driver).
if ! command -v tauri-driver >/dev/null 2>&1; then
  cargo install tauri-driver --version "^2" --locked
fi
