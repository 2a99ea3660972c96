#!/usr/bin/env bash
# Start-up and idle memory of the native binary (issue 12 §5): time from exec to all three ports listening (read from
# /proc/net/tcp{,6} every ~2 ms, so the poll neither misses much nor steals a core), the process's CPU time (user +
# system, /proc/<pid>/stat, 10 ms ticks) at that moment, then RSS after 3 s idle. Prints each run, the medians and the
# load average before and after (the figures are only comparable at similar load).
# usage: measure-startup.sh <fastepp binary> [runs=11] [extra EPP flags...]
set -euo pipefail
BIN=$(readlink -f "$1"); RUNS=${2:-11}; shift $(( $# >= 2 ? 2 : 1 ))
EXTRA=("$@")
TICK=$(getconf CLK_TCK)
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
cpu_ms() { # utime + stime of $1 in ms
  local stat rest
  stat=$(cat "/proc/$1/stat"); rest=${stat##*) }
  set -- $rest
  echo $(( (${12} + ${13}) * 1000 / TICK ))
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
starts=(); cpus=(); rsss=()
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
  cpu=$(cpu_ms $pid)
  sleep 3
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  ms=$(( (t1 - t0) / 1000000 ))
  starts+=($ms); cpus+=($cpu); rsss+=($rss)
  echo "run $i: listening after ${ms} ms (CPU ${cpu} ms), idle RSS $(awk -v k=$rss 'BEGIN{printf "%.1f", k/1024}') MB" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of ${#starts[@]}: exec → 3 ports listening $(median "${starts[@]}") ms, CPU $(median "${cpus[@]}") ms, idle RSS $(awk -v k="$(median "${rsss[@]}")" 'BEGIN{printf "%.1f", k/1024}') MB; load average $load_before → $(cut -d' ' -f1-3 /proc/loadavg)"
