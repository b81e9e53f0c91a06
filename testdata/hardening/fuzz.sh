#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module for FUZZTIME each (make fuzz).
# The targets are found with `go test -list '^Fuzz'`, so a new one is run
# without editing this script. Prints each target's executions and the total.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
total=0 targets=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
			cat "$log"
			echo "fuzz: $pkg $target FAILED (the failing input is in the package's testdata/fuzz/$target)"
			exit 1
		fi
		# "fuzz: elapsed: 5s, execs: 12345 (2469/sec), ..." : the last report counts.
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
		printf 'fuzz: %-50s %-22s %9s execs in %s\n' "$pkg" "$target" "$execs" "$FUZZTIME"
		total=$((total + execs)) targets=$((targets + 1))
	done
done
echo "fuzz: $targets targets, $total inputs, no failure"
