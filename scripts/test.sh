#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test. CI runs this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

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
  Xvfb "$DISPLAY" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  trap 'kill $xvfb_pid 2>/dev/null || true' EXIT
  for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "== Rust: every test"
cargo test --workspace --locked
