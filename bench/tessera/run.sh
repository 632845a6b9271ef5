#!/usr/bin/env bash
# Runs pouch's log benchmarks and Tessera's POSIX appender side by side, in
# the same run, alternating REPS times, and prints the medians and the ratios.
#
#   bench/tessera/run.sh                 # defaults: N=60000 CLIENTS=4000 REPS=3
#   N=100000 CLIENTS=1000 REPS=5 bench/tessera/run.sh
#
# Throughput: every client appends one record at a time and waits until a
# published checkpoint covers it. pouch verifies each record's Ed25519
# signature on the way in and commits with synchronous=FULL; Tessera gets
# random entries of the same size and no verification.
# Latency: records at a steady 10,000/s, time from append to a published
# checkpoint covering it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${N:-60000}
CLIENTS=${CLIENTS:-4000}
REPS=${REPS:-3}
LAT_N=${LAT_N:-50000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

(cd "$root" && go test -c -o "$out/pouch.test" ./tlog)
(cd "$here" && go test -c -o "$out/tessera.test" .)

metric() { # file metric-name -> values, one per line
	grep -o "[0-9.]* $2" "$1" | awk '{print $1}'
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "NaN"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

for r in $(seq "$REPS"); do
	echo "rep $r/$REPS: pouch append" >&2
	(cd "$root/tlog" && POUCH_BENCH_CLIENTS=$CLIENTS "$out/pouch.test" -test.run '^$' -test.bench '^BenchmarkAppend$' -test.benchtime "${N}x") >>"$out/pouch.txt"
	echo "rep $r/$REPS: tessera append" >&2
	(cd "$here" && "$out/tessera.test" -test.run '^$' -test.bench '^BenchmarkTesseraAppend$' -test.benchtime "${N}x" -clients "$CLIENTS" 2>/dev/null) >>"$out/tessera.txt"
	echo "rep $r/$REPS: pouch latency" >&2
	(cd "$root/tlog" && "$out/pouch.test" -test.run '^$' -test.bench '^BenchmarkLatency$' -test.benchtime "${LAT_N}x") >>"$out/pouch-lat.txt"
	echo "rep $r/$REPS: tessera latency" >&2
	(cd "$here" && "$out/tessera.test" -test.run '^$' -test.bench '^BenchmarkTesseraLatency$' -test.benchtime "${LAT_N}x" 2>/dev/null) >>"$out/tessera-lat.txt"
done

echo "raw results:"
cat "$out"/pouch.txt "$out"/tessera.txt "$out"/pouch-lat.txt "$out"/tessera-lat.txt | grep Benchmark | sed 's/^/  /'
p=$(metric "$out/pouch.txt" records/s | median)
t=$(metric "$out/tessera.txt" records/s | median)
pc=$(metric "$out/pouch.txt" CPU-µs/record | median)
tc=$(metric "$out/tessera.txt" CPU-µs/record | median)
pl=$(metric "$out/pouch-lat.txt" p99-ms | median)
tl=$(metric "$out/tessera-lat.txt" p99-ms | median)
echo
echo "medians of $REPS alternating runs, $N records, $CLIENTS concurrent clients:"
printf '  append throughput: pouch %.0f records/s (%s CPU-µs/record), tessera %.0f records/s (%s CPU-µs/record), ratio %.2f\n' "$p" "$pc" "$t" "$tc" "$(awk -v a="$p" -v b="$t" 'BEGIN {print a/b}')"
printf '  append to published checkpoint at 10,000 records/s, p99: pouch %s ms, tessera %s ms\n' "$pl" "$tl"
