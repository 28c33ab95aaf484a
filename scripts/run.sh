#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds Conclave, and opens the app.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
(cd ui && npm install --no-audit --no-fund && npm run build)
cargo build --release -p conclave
exec ./target/release/conclave "$@"
