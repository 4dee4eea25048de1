#!/bin/sh
# Checks the workshop's grader both ways (scripts/test.sh runs it): every starter compiles and
# fails its own step's first rule, so that a learner's first run is one clear failure; every
# solution passes its step and all the steps before. Also formatting, and clippy on the
# solutions. Shares the project's target directory and dependency versions.
set -eu
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target" RUST_BACKTRACE=0

echo "==> workshop: every main.rs is what its template makes"
python3 workshop/maintainers/generate.py --check

for track in workshop/axum/ workshop/actix/ workshop/warp/; do
    manifest="$track/Cargo.toml"
    echo "==> $track: cargo fmt --check, clippy on the solutions"
    cargo fmt --manifest-path "$manifest" --all --check
    solutions=$(sed -n 's/^name = "\(.*-solution\)"/-p \1/p' "$track"/solutions/*/*/Cargo.toml)
    # shellcheck disable=SC2086 # one word per -p and package
    cargo clippy --manifest-path "$manifest" --locked --all-targets $solutions -- -D warnings

    step=0
    for exercise in "$track"/exercises/*/*/; do
        step=$((step + 1))
        name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$exercise/Cargo.toml")
        if out=$(cargo test --manifest-path "$manifest" --locked -p "$name" 2>&1); then
            echo "$out"
            echo "the starter $name passed its grader: it must fail step $step's first rule"
            exit 1
        fi
        failed=$(echo "$out" | grep "^Step $step (.*), rule 1 of" || true)
        if [ -z "$failed" ]; then
            echo "$out"
            echo "the starter $name did not fail on step $step's first rule"
            exit 1
        fi
        echo "    starter  $name fails as it should: $failed"
        if ! out=$(cargo test --manifest-path "$manifest" --locked -p "$name-solution" 2>&1); then
            echo "$out"
            echo "the solution $name-solution fails its grader"
            exit 1
        fi
        echo "    solution $name-solution passes steps 1 to $step"
    done
done
