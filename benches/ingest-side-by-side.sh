#!/usr/bin/env bash
# Builds benches/ingest.rs against an earlier commit (default 8104444, the main before
# versions and background seals) and against this tree, then runs them
# alternately, ROUNDS times each (default 2), on the same data, so that their figures come
# from one run on one machine.
#
#   benches/ingest-side-by-side.sh [BASE_REF] [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data/debian-minilm-384 (the issue's set), else the bundled
# data/debian-minilm-384-10k.
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref=${1:-8104444}
data=${2:-../shared/data/debian-minilm-384}
[ -d "$data" ] || data=data/debian-minilm-384-10k
data=$(cd "$data" && pwd)
rounds=${ROUNDS:-2}

work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/base" "$base_ref" >/dev/null
cp benches/ingest.rs "$work/base/benches/ingest.rs"
if ! grep -q 'name = "ingest"' "$work/base/Cargo.toml"; then
    printf '\n[[bench]]\nname = "ingest"\nharness = false\n' >>"$work/base/Cargo.toml"
fi

bench_binary() {
    (cd "$1" && cargo bench --bench ingest --no-run --message-format=json 2>/dev/null) |
        grep -o '"executable":"[^"]*ingest-[^"]*"' | tail -1 | cut -d'"' -f4
}
(cd "$work/base" && cargo bench --bench ingest --no-run >/dev/null 2>&1)
cargo bench --bench ingest --no-run >/dev/null 2>&1
old=$(bench_binary "$work/base")
new=$(bench_binary .)

for round in $(seq 1 "$rounds"); do
    echo "== round $round: $base_ref"
    "$old" "$data"
    echo "== round $round: this tree ($(git rev-parse --short HEAD))"
    "$new" "$data"
done
