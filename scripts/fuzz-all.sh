#!/usr/bin/env bash
# fuzz-all.sh runs every Go native fuzz target of the module, one at a time,
# each for DURATION, and prints a table of executions per fuzzer.
#
#   scripts/fuzz-all.sh DURATION [REGEXP]
#
# DURATION is a -fuzztime value (10m, 30s, 100000x). REGEXP, when given,
# keeps only the fuzzers whose "package/FuzzName" matches it (grep -E).
# Environment:
#   FUZZ_PARALLEL=N     fuzzing workers per target (go test -parallel;
#                       default: GOMAXPROCS, i.e. every CPU)
#   FUZZ_KEEP_CORPUS=1  copy each fuzzer's new interesting inputs from the
#                       Go build cache into PKG/testdata/fuzz/NAME/ so they
#                       can be committed (and then run as seeds by go test)
#   FUZZ_LOG_DIR=DIR    where the per-fuzzer logs go (default: a temp dir)
#   FUZZ_LIST=1         only list the fuzzers that would run
#
# A fuzzer that finds a failure leaves the crasher where go test writes it,
# PKG/testdata/fuzz/NAME/<hash> (commit it with the fix: it becomes a
# regression seed), and the script exits 1 after running the rest.
set -u -o pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DURATION [REGEXP]   (e.g. $0 10m, $0 30s 'remote/')" >&2
	exit 2
fi
duration=$1
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
logdir=${FUZZ_LOG_DIR:-$(mktemp -d -t fuzz-all-XXXXXX)}
mkdir -p "$logdir"
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

# Every "func FuzzX(" in a _test.go file, as "dir name", sorted.
mapfile -t targets < <(
	grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir=vendor \
		'^func Fuzz[A-Za-z0-9_]*\(' . |
		sed -E 's#^\./##; s#/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($# \1#; s#^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' |
		sort -u
)
if [ -n "$filter" ]; then
	mapfile -t targets < <(printf '%s\n' "${targets[@]}" | awk '{print $1"/"$2" "$0}' | grep -E -- "$filter" | cut -d' ' -f2-)
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz-all: no fuzz targets found${filter:+ matching $filter}" >&2
	exit 2
fi
if [ "${FUZZ_LIST:-}" = 1 ]; then
	printf '%s\n' "${targets[@]}"
	exit 0
fi
echo "fuzz-all: ${#targets[@]} fuzzers, $duration each, logs in $logdir"

cache=$(go env GOCACHE)/fuzz
rows=()
failed=0
i=0
for t in "${targets[@]}"; do
	i=$((i + 1))
	dir=${t% *}
	name=${t#* }
	log="$logdir/$(echo "$dir" | tr / _)-$name.log"
	printf '[%d/%d] %s %s ... ' "$i" "${#targets[@]}" "$dir" "$name"
	start=$(date +%s)
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" "${parallel[@]}" "./$dir" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	# The last progress line holds the totals:
	# fuzz: elapsed: 5s, execs: 12345 (2469/sec), new interesting: 3 (total: 20)
	last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	newint=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	status=ok
	if [ $rc -ne 0 ]; then
		status=FAIL
		failed=$((failed + 1))
		crasher=$(grep -Eo 'testdata/fuzz/[^ ]+' "$log" | tail -1)
		[ -n "$crasher" ] && status="FAIL: $dir/$crasher"
	fi
	if [ "${FUZZ_KEEP_CORPUS:-}" = 1 ] && [ $rc -eq 0 ]; then
		pkg=$(go list "./$dir")
		if [ -d "$cache/$pkg/$name" ]; then
			mkdir -p "$dir/testdata/fuzz/$name"
			cp -n "$cache/$pkg/$name"/* "$dir/testdata/fuzz/$name/" 2>/dev/null
		fi
	fi
	echo "${status%%:*} (${secs}s, ${execs:-?} execs)"
	rows+=("| $dir | $name | ${execs:-?} | ${newint:-?} | ${secs}s | $status |")
done

echo
echo "| package | fuzzer | execs | new interesting | wall | status |"
echo "|---|---|--:|--:|--:|---|"
printf '%s\n' "${rows[@]}"
if [ $failed -gt 0 ]; then
	echo
	echo "fuzz-all: $failed fuzzer(s) failed; logs in $logdir, crashers under PKG/testdata/fuzz/NAME/" >&2
	exit 1
fi
