#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), starting from the committed seed
# corpora in fuzz/seeds/<target>/ (golden files and files of real collections; remade by
# `VECSIEVE_WRITE_SEEDS=1 cargo nextest run --test fuzz_seeds`). New inputs go to
# fuzz/corpus/<target>/ (not committed). Needs nightly and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# TARGETS="wal_file manifest" limits the run to some targets.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
for target in ${TARGETS:-wal_file segment_file manifest deletion_sidecar}; do
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$secs"
done
