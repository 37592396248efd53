#!/usr/bin/env bash
# Checks deploy/targetym-integrations.service with systemd-analyze:
#  - `verify` on a copy whose ExecStart/ExecStartPre point at the built binary (verify needs
#    the program to exist); any message at all (an unknown key, a bad value, a missing
#    program) fails, since verify itself exits 0 on most of them;
#  - `security --offline`: the exposure score must stay at most 2.0 (it is 1.2; the threshold
#    is given on a 0-100 scale);
#  - the checker must refuse three broken copies (a misspelt key, a bad value, a missing
#    program), so it cannot pass by checking nothing.
# Usage: deploy/verify-systemd-unit.sh <path to the built targetym-integrations binary>
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:?usage: $0 <targetym-integrations binary>}")"
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 1; }
unit=deploy/targetym-integrations.service
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# verify_unit <unit file>: 0 only when systemd-analyze has nothing to say about it.
verify_unit() {
  local out rc=0
  out="$(systemd-analyze verify "$1" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

# Each copy goes in a directory of its own, under the unit's real name.
copy() { # copy <dir> <sed expression>
  mkdir -p "$work/$1"
  sed -e "s#/usr/local/bin/targetym-integrations#$binary#g" -e "$2" "$unit" \
    > "$work/$1/targetym-integrations.service"
  echo "$work/$1/targetym-integrations.service"
}

good="$(copy good '')"
verify_unit "$good"
systemd-analyze security --offline=true --threshold=20 "$good" | tail -n 1

for broken in 's/^ProtectSystem=strict/ProtectSytem=strict/' \
              's/^ProtectSystem=strict/ProtectSystem=stric/' \
              "s#^ExecStart=$binary#ExecStart=/nonexistent/targetym-integrations#"; do
  if verify_unit "$(copy broken "$broken")" 2>/dev/null; then
    echo "the checker accepted a broken unit ($broken)" >&2
    exit 1
  fi
done
echo "systemd unit verified (and three broken copies refused)"
