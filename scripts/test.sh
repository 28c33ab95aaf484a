#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test. CI runs this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# What this script starts in the background (Xvfb, the package build) ends with it.
# Each is its own process group (set -m), so its children end too.
background=()
trap 'for pid in "${background[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done' EXIT

bash scripts/install-deps.sh

echo "== UI: install, type-check, unit tests, build"
(cd ui && npm install --no-audit --no-fund && npm test && npm run build)

echo "== Rust: build everything (the cross-process tests run the built binaries)"
# All targets in one go, so the tests below reuse the same build (one feature set).
cargo build --workspace --all-targets --locked

echo "== Generated TypeScript types are up to date"
cargo test --workspace --locked export_bindings >/dev/null
if ! git diff --quiet -- ui/src/generated || [[ -n $(git ls-files --others --exclude-standard ui/src/generated) ]]; then
  echo "ui/src/generated is stale: run 'cargo test --workspace export_bindings' and commit it" >&2
  git status --short ui/src/generated >&2
  exit 1
fi

echo "== A display for the end-to-end test (Xvfb)"
if [[ -z "${DISPLAY:-}" ]]; then
  export DISPLAY=:97
  Xvfb "$DISPLAY" -screen 0 1600x1000x24 -nolisten tcp -noreset >/dev/null 2>&1 &
  background+=("$!")
  for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "== Sound for the device tests (PulseAudio; the tests add null sinks)"
# cpal's PulseAudio host finds the server through XDG_RUNTIME_DIR, and the app
# (started with a fresh HOME) finds the cookie through PULSE_COOKIE.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/conclave-runtime-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
if ! pactl info >/dev/null 2>&1; then
  pulseaudio -D --exit-idle-time=-1 2>/dev/null || true
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
pactl info >/dev/null || { echo "PulseAudio did not start" >&2; exit 1; }
export PULSE_COOKIE="${PULSE_COOKIE:-$HOME/.config/pulse/cookie}"

echo "== Packaging: the release build starts in the background, at the lowest CPU priority"
# It takes what the tests leave idle (they wait on real-time media much of
# the time) instead of ten minutes of its own after them; niced, it yields
# the CPU to them whenever they want it. Its log is shown if it fails.
package_log=target/package-deb.log
set -m
nice -n 19 bash scripts/package-deb.sh --prepared >"$package_log" 2>&1 &
package_pid=$!
set +m
background+=("$package_pid")

echo "== Rust: every test"
cargo test --workspace --locked

echo "== Packaging: build the .deb, install it, start the installed binaries"
if ! wait "$package_pid"; then
  cat "$package_log" >&2
  echo "scripts/package-deb.sh failed" >&2
  exit 1
fi
deb=$(ls -t target/release/bundle/deb/*.deb | head -1)
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo dpkg -i "$deb"
/usr/bin/conclave --version
/usr/bin/conclave-server --version
desktop_entry=$(dpkg -L conclave | grep '^/usr/share/applications/.*\.desktop$')
grep -q '^MimeType=x-scheme-handler/conclave;' "$desktop_entry" || {
  echo "$desktop_entry does not register conclave:// links" >&2
  exit 1
}
echo "installed $deb: conclave, conclave-server, $desktop_entry"
