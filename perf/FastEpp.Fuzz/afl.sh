#!/usr/bin/env bash
# ./build.sh fuzz --afl --target T [--seconds N] [--timeout-ms MS] [--instrument a.dll,b.dll]: coverage-guided fuzzing of one FastEpp.Fuzz target
# with afl-fuzz (afl++) through SharpFuzz (docs/reliability.md §1). Builds the fuzzer, copies its output to
# out/afl/bin, instruments that copy of fastepp.dll (and Google.Protobuf.dll for vllm-grpc, whose decoding happens
# there; --instrument overrides the list) with the SharpFuzz CLI (a dotnet tool installed to out/tools),
# writes the target's seeds to out/afl/T/in and runs afl-fuzz for N seconds (one core) with the same property checks
# as the in-process target. Prints afl-fuzz's figures; every saved crash is replayed with --repro (uninstrumented,
# full stack trace) and makes the exit code 1.
set -euo pipefail
target=""
seconds=120
timeout_ms=5000
instrument=""
while [ $# -gt 0 ]; do
  case "$1" in
    --afl) ;;
    --target) target=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --timeout-ms) timeout_ms=$2; shift ;;
    --instrument) instrument=$2; shift ;;
    *) echo "afl mode: unknown argument $1 (usage: --afl --target T [--seconds N] [--timeout-ms MS] [--instrument a.dll,b.dll])" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$target" ] || { echo "afl mode needs --target T (one target; --list shows them)" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 2; }
OUT=${OUT:-$PWD/out}
BIN=perf/FastEpp.Fuzz/bin/Release/net10.0
dotnet build perf/FastEpp.Fuzz/FastEpp.Fuzz.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
[ -x "$OUT/tools/sharpfuzz" ] || dotnet tool install --tool-path "$OUT/tools" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
rm -rf "$OUT/afl/bin" && mkdir -p "$OUT/afl" && cp -r "$BIN" "$OUT/afl/bin"
if [ -z "$instrument" ]; then
  instrument=fastepp.dll
  if [ "$target" = vllm-grpc ]; then instrument=fastepp.dll,Google.Protobuf.dll; fi
fi
for dll in ${instrument//,/ }; do "$OUT/tools/sharpfuzz" "$OUT/afl/bin/$dll"; done
dir=$OUT/afl/$target
rm -rf "$dir"
dotnet "$BIN/FastEpp.Fuzz.dll" --afl-seeds "$target" "$dir/in" >/dev/null
echo "afl-fuzz: target $target, $seconds s, timeout $timeout_ms ms, instrumented $instrument, findings under $dir/out (log $dir/afl.log)"
# This sandbox (and CI) has no CPU frequency control, core_pattern pointing elsewhere and 'dotnet' as the binary
# (the instrumentation is in fastepp.dll, not in the executable afl-fuzz checks), hence the AFL_* switches.
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 \
  afl-fuzz -i "$dir/in" -o "$dir/out" -V "$seconds" -t "$timeout_ms" -m none -- \
  dotnet "$OUT/afl/bin/FastEpp.Fuzz.dll" --afl-target "$target" >"$dir/afl.log" 2>&1 || {
  echo "afl-fuzz failed; the end of $dir/afl.log:" >&2; tail -20 "$dir/afl.log" >&2; exit 1; }
stats=$dir/out/default/fuzzer_stats
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|edges_found|total_edges|bitmap_cvg|stability|saved_crashes|saved_hangs) ' "$stats"
crashes=0
for f in "$dir"/out/default/crashes/id*; do
  [ -e "$f" ] || continue
  crashes=$((crashes + 1))
  echo "--- crash $f:"
  dotnet "$BIN/FastEpp.Fuzz.dll" --repro "$target" "$f" | head -20 || true
done
[ "$crashes" -eq 0 ]
