#!/usr/bin/env bash
# Builds the .deb with the Tauri bundler: the app, the standalone
# `conclave-server`, a desktop entry that handles conclave:// links, icons.
# Output: target/release/bundle/deb/Conclave_<version>_amd64.deb
# Needs no network beyond the npm and crates registries.
set -euo pipefail
cd "$(dirname "$0")/.."

# --prepared: the machine's packages and ui/dist are in place already
# (scripts/test.sh, which builds this while its tests run, and must not
# have ui/dist rewritten under the debug build it tests).
prepared=false
[[ "${1:-}" == "--prepared" ]] && prepared=true
if ! $prepared; then
  bash scripts/install-deps.sh
  (cd ui && npm install --no-audit --no-fund && npm run build)
fi
# A package for users carries no debug info (the release profile keeps line
# tables for the benchmarks' profiles), which makes the .deb a fraction of
# the size. Cargo builds this separately from a plain release build.
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo
cargo build --release --locked -p conclave-server
# Run from src-tauri, where tauri.conf.json is linked, so the bundler builds
# the app's package and resolves the config's paths from there. The UI was
# built above (or by the caller): the config's beforeBuildCommand is not run.
(cd src-tauri && ../ui/node_modules/.bin/tauri build --bundles deb \
  --config '{"build":{"beforeBuildCommand":null}}' -- --locked)
ls target/release/bundle/deb/*.deb
