#!/bin/bash
# Re-records every oracle scenario on the real kernels (QEMU, see ../shared/oracle/README.md) and
# writes fixtures/oracle/<kernel>/{scenarios,traces}. Each kernel boots twice; a scenario whose
# trace differs between the two boots depends on timing and is dropped (and named).
#   test/oracle/record.sh [KERNEL...]        kernels: 6.1 6.12 (default: both)
#   COUNT=240 SEEDS="1 2"   random scenarios per seed (test/oracle/generate.ts), besides
#                           test/oracle/mechanisms/
#   UFFD_COUNT=0            random userfaultfd / PAGEMAP_SCAN scenarios per seed (generate.ts --uffd)
#   MERGE_COUNT=0           random VMA-merge scenarios per seed (generate.ts --merge)
#   MECHANISMS="test/oracle/mechanisms"   scenario folders copied as they are
#   QEMU_TIMEOUT=3000
#   MERGE=1   add the recorded scenarios to fixtures/oracle/<kernel> (replacing same-named ones)
#             instead of replacing the whole folder; with COUNT=0 records only MECHANISMS
# The runner (runner.c, the shared reference runner with the uffd and PAGEMAP_SCAN ops) and its
# build.sh / run.sh are the project's own copies in test/oracle.
# Needs: apt-get install -y --no-install-recommends qemu-system-x86 gcc libc6-dev cpio xz-utils binutils
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ORACLE=$ROOT/test/oracle
MECHANISMS=${MECHANISMS:-test/oracle/mechanisms}
COUNT=${COUNT:-240}
UFFD_COUNT=${UFFD_COUNT:-0}
MERGE_COUNT=${MERGE_COUNT:-0}
SEEDS=${SEEDS:-1 2}
export QEMU_TIMEOUT=${QEMU_TIMEOUT:-3000}
KERNELS=("$@")
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(6.1 6.12)
cd "$ROOT"
npx tsc -p tsconfig.json
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tracker-oracle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/scenarios"
if [ "$COUNT" -gt 0 ]; then for seed in $SEEDS; do node dist/test/oracle/generate.js "$WORK/scenarios" "$COUNT" "$seed"; done; fi
if [ "$UFFD_COUNT" -gt 0 ]; then for seed in $SEEDS; do node dist/test/oracle/generate.js "$WORK/scenarios" "$UFFD_COUNT" "$seed" --uffd; done; fi
if [ "$MERGE_COUNT" -gt 0 ]; then for seed in $SEEDS; do node dist/test/oracle/generate.js "$WORK/scenarios" "$MERGE_COUNT" "$seed" --merge; done; fi
for d in $MECHANISMS; do cp "$d"/*.ops "$WORK/scenarios/"; done
for k in "${KERNELS[@]}"; do
    case "$k" in
        6.1) KPKG=linux-image-6.1.0-56-amd64-unsigned ;;
        6.12) KPKG=linux-image-6.12.117+deb12-amd64-unsigned ;;
        *) echo "unknown kernel $k (6.1 or 6.12)" >&2; exit 2 ;;
    esac
    export KPKG
    SCENARIOS="$WORK/scenarios" "$ORACLE/build.sh"
    OUT="$WORK/$k-a" "$ORACLE/run.sh"
    OUT="$WORK/$k-b" "$ORACLE/run.sh"
    DEST=fixtures/oracle/$k
    rm -rf "$DEST.new"
    mkdir -p "$DEST.new/scenarios" "$DEST.new/traces"
    [ "${MERGE:-0}" = 1 ] && [ -d "$DEST" ] && cp -r "$DEST/scenarios" "$DEST/traces" "$DEST.new/"
    cp "$WORK/$k-a/_header.jsonl" "$DEST.new/traces/"
    kept=0
    for s in "$WORK"/scenarios/*.ops; do
        n=$(basename "$s" .ops)
        if [ -f "$WORK/$k-a/$n.jsonl" ] && cmp -s "$WORK/$k-a/$n.jsonl" "$WORK/$k-b/$n.jsonl"; then
            cp "$s" "$DEST.new/scenarios/"
            cp "$WORK/$k-a/$n.jsonl" "$DEST.new/traces/"
            kept=$((kept + 1))
        else
            echo "$k: $n differs between boots (timing-dependent), dropped" >&2
        fi
    done
    # the hand-kept list of known divergences (test/oracle/oracle-scenarios.ts) stays
    [ -f "$DEST/divergent.txt" ] && cp "$DEST/divergent.txt" "$DEST.new/"
    rm -rf "$DEST"
    mv "$DEST.new" "$DEST"
    echo "$k: $kept scenarios recorded into $DEST"
done
