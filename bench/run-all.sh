#!/bin/bash
# Runs the benchmark (dist/bench/src/run.js) on tsxenstored (self-started, every scenario at the
# default sizes) and on the reference C xenstored and oxenstored (started with
# ../shared/refdaemons/start.sh, the comparable scenarios only), then writes
# the side-by-side comparison. Outputs go to bench/results/ (or $OUT):
# <daemon>.json, <daemon>.svg, <daemon>.txt, compare.txt, compare.svg.
#
#   bench/run-all.sh [extra bench options, e.g. --wait-quiet 60]
#   ONLY="cxenstored oxenstored" bench/run-all.sh     # skip tsxenstored
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$root/bench/results}
refs=${REFDAEMONS:-$root/../shared/refdaemons}
only=${ONLY:-tsxenstored cxenstored oxenstored}
ref_scenarios=${REF_SCENARIOS:-latency,throughput,sequential,vmstart,watch}
mkdir -p "$out"
work=$(mktemp -d /tmp/tsxs-bench-refs.XXXXXX)
# Benchmark a frozen build: others may rebuild dist/ while this runs. The
# working tree is compiled into the snapshot (falling back to a copy of dist/).
snap=$work/build
mkdir -p "$snap/native"
cp -a "$root/node_modules" "$root/package.json" "$snap/"
cp -a "$root/native/build" "$snap/native/"
mkdir -p "$snap/bench" && cp -a "$root/bench/loadgen" "$snap/bench/"
if ! (cd "$root" && npx tsc -p tsconfig.json --outDir "$snap/dist" >/dev/null 2>&1); then
	echo "run-all: cannot compile the working tree; benchmarking a copy of dist/" >&2
	rm -rf "$snap/dist"
	cp -a "$root/dist" "$snap/dist"
fi
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain -- src bench/src 2>/dev/null | head -1)" ]; then commit="$commit+dirty"; fi
export TSXS_BENCH_COMMIT=$commit
echo "run-all: benchmarking tsxenstored $commit from $snap" >&2
bench=(node "$snap/dist/bench/src/run.js")
pid=
cleanup() {
	if [ -n "$pid" ]; then "$refs/stop.sh" "$pid" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

for d in $only; do
	echo "=== $d" >&2
	if [ "$d" = tsxenstored ]; then
		"${bench[@]}" --json "$out/$d.json" --svg "$out/$d.svg" --table "$out/$d.txt" "$@"
		continue
	fi
	pid=$("$refs/start.sh" "$d" "$work/$d.sock" "$work/$d")
	"${bench[@]}" --socket "$work/$d.sock" --pid "$pid" --label "$d" --scenarios "$ref_scenarios" \
		--json "$out/$d.json" --svg "$out/$d.svg" --table "$out/$d.txt" "$@" || echo "$d: bench exited with $?" >&2
	"$refs/stop.sh" "$pid" >/dev/null
	pid=
done

files=()
for d in tsxenstored cxenstored oxenstored; do [ -f "$out/$d.json" ] && files+=("$out/$d.json"); done
"${bench[@]}" --compare "${files[@]}" --svg "$out/compare.svg" | tee "$out/compare.txt"
