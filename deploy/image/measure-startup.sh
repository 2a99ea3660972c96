#!/usr/bin/env bash
# Start-up and idle memory of the native binary (issue 12 §5). Per run: the EPP is started with --endpoints on three
# free ports; the time from exec to all three ports accepting TCP connections (probed by connect every 1 ms: reading
# /proc/net/tcp or spawning ss costs 5–1,600 ms per poll on a busy machine, which the first version of this script
# measured instead of the EPP), the process's CPU time (user + system from /proc/<pid>/stat, 10 ms ticks) at that
# moment, then RSS (and its anonymous / file-backed parts) after 3 s idle. Prints each run, the medians, and the load
# average before and after: figures are comparable only at similar load.
# Ports: three the kernel reports free just before each run.
# usage: measure-startup.sh <fastepp binary> [runs=11] [extra EPP flags...]
set -euo pipefail
BIN=$(readlink -f "$1"); RUNS=${2:-11}; shift $(( $# >= 2 ? 2 : 1 ))
exec python3 - "$BIN" "$RUNS" "$@" <<'PY'
import os, signal, socket, statistics, subprocess, sys, time
binary, runs, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")
def load(): return " ".join(open("/proc/loadavg").read().split()[:3])
def accepting(port):
    s = socket.socket(); s.settimeout(0.05)
    try: return s.connect_ex(("127.0.0.1", port)) == 0
    finally: s.close()
def free_ports(n): # ports the kernel just handed out as free (a fixed range collides with other sessions' sockets)
    socks = [socket.socket(socket.AF_INET6) for _ in range(n)]
    for s in socks: s.bind(("::", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks: s.close()
    return ports
def status(pid, key): return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(key + ":"))
before = load(); starts, cpus, rsss = [], [], []
for i in range(1, runs + 1):
    ports = free_ports(3)
    args = [binary, "--endpoints", "127.0.0.1:1", "--grpc-port", str(ports[0]), "--grpc-health-port", str(ports[1]),
            "--metrics-port", str(ports[2])] + extra
    t0 = time.monotonic_ns()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pending = list(ports); ok = True
    while pending:
        pending = [q for q in pending if not accepting(q)]
        if not pending: break
        if p.poll() is not None or time.monotonic_ns() - t0 > 20e9: ok = False; break
        time.sleep(0.001)
    ms = (time.monotonic_ns() - t0) / 1e6
    if not ok:
        p.kill(); err = p.communicate()[1].decode(errors="replace").strip().splitlines()
        print(f"run {i}: not listening within 20 s (or exited, code {p.returncode}); skipped. Last log line: {err[-1] if err else ''}",
              file=sys.stderr)
        continue
    f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(f[11]) + int(f[12])) * 1000 / tick
    time.sleep(3)
    rss, anon, filebacked = (status(p.pid, k) / 1024 for k in ("VmRSS", "RssAnon", "RssFile"))
    p.send_signal(signal.SIGTERM); p.wait()
    starts.append(ms); cpus.append(cpu); rsss.append((rss, anon, filebacked))
    print(f"run {i}: listening after {ms:.0f} ms (CPU {cpu:.0f} ms), idle RSS {rss:.1f} MB (anon {anon:.1f}, file {filebacked:.1f})", file=sys.stderr)
if not starts: sys.exit("no run reached listening")
m = sorted(rsss)[(len(rsss) - 1) // 2]
print(f"median of {len(starts)}: exec → 3 ports listening {statistics.median(starts):.0f} ms, CPU {statistics.median(cpus):.0f} ms, "
      f"idle RSS {m[0]:.1f} MB (anon {m[1]:.1f}, file {m[2]:.1f}); load average {before} → {load()}")
PY
