#!/usr/bin/env bash
# Runs `auditwheel show` on each wheel given and fails unless it reports the
# wheel consistent with manylinux_2_17 (manylinux2014) for its architecture.
# Usage: scripts/check-wheel-tags.sh dist/*.whl   (AUDITWHEEL: the auditwheel to run)
set -euo pipefail
AUDITWHEEL=${AUDITWHEEL:-auditwheel}
[ $# -gt 0 ] || { echo "usage: $0 WHEEL..." >&2; exit 2; }
status=0
for whl in "$@"; do
    out=$("$AUDITWHEEL" show "$whl" 2>&1) || { echo "$whl: auditwheel show failed:" >&2; echo "$out" >&2; status=1; continue; }
    # auditwheel wraps its text; join the lines before matching.
    flat=$(printf '%s' "$out" | tr '\n' ' ' | tr -s ' ')
    if printf '%s' "$flat" | grep -Eq 'consistent with the following platform tag: "manylinux_2_17_(x86_64|aarch64)"|"manylinux_2_17_(x86_64|aarch64)"|"manylinux2014_(x86_64|aarch64)"'; then
        tag=$(printf '%s' "$flat" | grep -Eo '"manylinux_2_[0-9]+_[a-z0-9_]+"' | head -1)
        echo "ok: $(basename "$whl"): auditwheel: $tag"
    else
        echo "FAIL: $(basename "$whl") is not manylinux_2_17 / manylinux2014:" >&2
        echo "$out" >&2
        status=1
    fi
done
exit $status
