#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60). Needs nightly and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
for target in wal_file segment_file manifest deletion_sidecar; do
    cargo +nightly fuzz run "$target" -- -max_total_time="$secs"
done
