#!/usr/bin/env bash
# Start-up and idle memory of the native binary (issue 12 §5): time from exec to all three ports listening (read from
# /proc/net/tcp{,6} every ~2 ms, so the poll neither misses much nor steals a core), then RSS after 3 s idle.
# Prints each run and the medians. usage: measure-startup.sh <fastepp binary> [runs=11] [extra EPP flags...]
set -euo pipefail
BIN=$(readlink -f "$1"); RUNS=${2:-11}; shift $(( $# >= 2 ? 2 : 1 ))
EXTRA=("$@")
listening() { # $1..$3 ports (hex, upper case): all in LISTEN (0A)?
  local want=("$@") found=0 line p
  for f in /proc/net/tcp /proc/net/tcp6; do
    while read -r _ local _ st _; do
      [ "$st" = 0A ] || continue
      p=${local##*:}
      for w in "${want[@]}"; do [ "$p" = "$w" ] && found=$((found + 1)); done
    done < "$f"
  done
  [ $found -ge ${#want[@]} ]
}
starts=(); rsss=()
for i in $(seq 1 "$RUNS"); do
  base=$((30000 + RANDOM % 20000))
  hex=($(printf '%04X %04X %04X' $base $((base + 1)) $((base + 2))))
  t0=$(date +%s%N)
  "$BIN" --endpoints 127.0.0.1:1 --grpc-port $base --grpc-health-port $((base + 1)) --metrics-port $((base + 2)) "${EXTRA[@]}" >/dev/null 2>&1 &
  pid=$!
  ok=1
  until listening "${hex[@]}"; do
    if ! kill -0 $pid 2>/dev/null || [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 20000 ]; then ok=0; break; fi
    sleep 0.002
  done
  t1=$(date +%s%N)
  if [ $ok = 0 ]; then echo "run $i: not listening within 20 s (or exited); skipped" >&2; kill -KILL $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; continue; fi
  sleep 3
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  ms=$(( (t1 - t0) / 1000000 ))
  starts+=($ms); rsss+=($rss)
  echo "run $i: listening after ${ms} ms, idle RSS $((rss / 1024)) MB" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of $RUNS: exec → 3 ports listening $(median "${starts[@]}") ms, idle RSS $(awk -v k="$(median "${rsss[@]}")" 'BEGIN{printf "%.1f", k/1024}') MB"
