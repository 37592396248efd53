#!/usr/bin/env bash
# The adversarial suite's long run: a million cases per target (ADVERSARIAL_CASES to change).
# A debug build on purpose: overflow checks stay on, so an unchecked `+` on outside input
# panics here instead of wrapping silently. On the 2-core development machine the six
# targets take several hours; `cargo test` runs the same targets with 10,000 cases each.
set -euo pipefail
cd "$(dirname "$0")/.."
export ADVERSARIAL_CASES="${ADVERSARIAL_CASES:-1000000}"
exec cargo test --test api adversarial:: -- --test-threads="${THREADS:-2}"
