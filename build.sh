#!/usr/bin/env bash
# FastEpp build driver. Subcommands: setup | build | test | publish | run | smoke | bench | loadgen | perf | demo | deploy | image | fuzz | soak | chaos
# Every subcommand works on a fresh Debian machine with the .NET 10 SDK; `setup` installs the rest.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
CONFIG=${CONFIG:-Release}
OUT=${OUT:-$ROOT/out}
AOT_DIR=$OUT/fastepp
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# setup: what native AOT needs (clang drives compile+link; ILCompiler comes from NuGet).
cmd_setup() {
  local missing=()
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  command -v ld >/dev/null 2>&1 || missing+=(binutils)
  dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
  # A real libzmq PUB (pyzmq, as vLLM publishes KV events) for the precise-prefix interop test.
  dpkg -s python3-zmq >/dev/null 2>&1 || missing+=(python3-zmq)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v dotnet >/dev/null 2>&1 || { echo "the .NET 10 SDK is required (dotnet on PATH)" >&2; exit 1; }
}

cmd_build() {
  log "build ($CONFIG)"
  dotnet build FastEpp.sln -c "$CONFIG" -nologo -v quiet -clp:NoSummary
}

# publish: native AOT, linux-x64, trimmed, invariant globalization. Any trim/AOT warning fails it.
cmd_publish() {
  cmd_setup
  log "publish native AOT -> $AOT_DIR"
  dotnet publish src/FastEpp/FastEpp.csproj -c Release -r linux-x64 -o "$AOT_DIR" -nologo -v quiet \
    -p:TreatWarningsAsErrors=true -p:IlcTreatWarningsAsErrors=true -clp:NoSummary
  rm -f "$AOT_DIR"/*.dbg "$AOT_DIR"/*.staticwebassets.endpoints.json
  check_links "$AOT_DIR/fastepp"
  ls -l "$AOT_DIR/fastepp" | awk '{printf "fastepp binary: %.1f MB\n", $5/1048576}' >&2
}

# The distroless/chiseled base provides libc, libm, libstdc++/libgcc, libssl/libcrypto (dlopen'ed) and
# the loader; anything else linked in would be missing at runtime.
check_links() {
  local bad
  bad=$(ldd "$1" | awk '{print $1}' | grep -vE '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libssl\.so|libcrypto\.so|libdl\.so|libpthread\.so|librt\.so)' || true)
  if [ -n "$bad" ]; then echo "AOT binary links against libraries a distroless base lacks: $bad" >&2; exit 1; fi
  log "ldd: $(ldd "$1" | awk '{print $1}' | tr '\n' ' ')"
}

# run: the main job. With no arguments: a local fleet of 4 simulated vLLM servers (fastepp-sim,
# ports 8000-8003) and the EPP (native AOT, plaintext ext_proc on 9002) routing over them as static
# endpoints, polling their /metrics. Ctrl-C stops both. With arguments: the EPP alone with those flags.
cmd_run() {
  cmd_publish >/dev/null
  # The container image's runtime settings (Dockerfile.aot) unless already set.
  export DOTNET_ThreadPool_UnfairSemaphoreSpinLimit="${DOTNET_ThreadPool_UnfairSemaphoreSpinLimit:-0}" \
    DOTNET_GCgen0size="${DOTNET_GCgen0size:-800000}"
  if [ $# -gt 0 ]; then exec "$AOT_DIR/fastepp" "$@"; fi
  dotnet build src/FastEpp.Sim/FastEpp.Sim.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  local base=${SIM_PORT:-8000} sim
  dotnet src/FastEpp.Sim/bin/Release/net10.0/fastepp-sim.dll --replicas 4 --port "$base" &
  sim=$!
  trap 'kill $sim 2>/dev/null || true' EXIT INT TERM
  log "fastepp-sim fleet on ports $base-$((base + 3)); EPP ext_proc on :9002 (plaintext), health :9003, metrics :9090"
  "$AOT_DIR/fastepp" --endpoints "127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))" \
    --secure-serving=false || true
}

# smoke: start the AOT binary, drive one request over real gRPC the way Envoy does, stop it.
# Publishes when the AOT binary is missing or older than any EPP source file (obj/ and bin/ excluded).
ensure_published() {
  if [ ! -x "$AOT_DIR/fastepp" ] || [ -n "$(find src/FastEpp protos \( -name obj -o -name bin \) -prune -o -newer "$AOT_DIR/fastepp" -type f \( -name '*.cs' -o -name '*.proto' -o -name '*.csproj' \) -print -quit)" ]; then
    cmd_publish
  fi
}

cmd_smoke() {
  ensure_published
  dotnet build perf/FastEpp.LoadGen/FastEpp.LoadGen.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  local port=$((20000 + RANDOM % 20000)) rc=0
  "$AOT_DIR/fastepp" --endpoints 10.0.0.1:8000,10.0.0.2:8000 --secure-serving=false \
      --grpc-port $port --grpc-health-port $((port + 1)) --metrics-port $((port + 2)) >"$OUT/smoke.log" 2>&1 &
  SMOKE_PID=$!
  trap 'kill "$SMOKE_PID" 2>/dev/null || true' EXIT
  dotnet perf/FastEpp.LoadGen/bin/Release/net10.0/FastEpp.LoadGen.dll smoke --target 127.0.0.1:$port \
      --health 127.0.0.1:$((port + 1)) --expect 10.0.0.1:8000,10.0.0.2:8000 || rc=$?
  kill -TERM "$SMOKE_PID" 2>/dev/null || true
  wait "$SMOKE_PID" 2>/dev/null || true
  if [ $rc -ne 0 ]; then echo "smoke test FAILED; EPP log:" >&2; cat "$OUT/smoke.log" >&2; fi
  return $rc
}

# deploy: renders deploy/ with kubectl's kustomize when kubectl is installed (returns 2 when it is not; the xunit
# DeployTests parse and check the same YAML either way).
cmd_deploy() {
  if ! command -v kubectl >/dev/null 2>&1; then
    log "kubectl not installed: kustomize render of deploy/ skipped (DeployTests checked the YAML)"; return 2
  fi
  local out kinds
  out=$(kubectl kustomize deploy/) || { echo "kubectl kustomize deploy/ FAILED" >&2; return 1; }
  kinds=$(grep -c '^kind:' <<<"$out")
  log "kubectl kustomize deploy/: $kinds objects"
  [ "$kinds" -ge 11 ]
}

# image [test]: the OCI image from the AOT binary without pulling any image (deploy/image/build-image.sh: Debian
# packages + /epp, distroless/cc shape, user 65532) → out/fastepp-image.tar, its size printed. `image test` then runs
# it (deploy/image/run-image-test.sh: chroot as 65532 with the image's env only, one ext_proc request + a TLS
# handshake; needs root, so it is not part of `test`; IMAGE_RUNTIME=podman runs it with podman instead).
cmd_image() {
  ensure_published
  local tar=$OUT/fastepp-image.tar
  log "image -> $tar"
  deploy/image/build-image.sh "$AOT_DIR/fastepp" "$tar" "${IMAGE_TAG:-localhost/fastepp:latest}"
  if [ "${1:-}" = test ]; then
    dotnet build perf/FastEpp.LoadGen/FastEpp.LoadGen.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
    log "image run test"
    deploy/image/run-image-test.sh "$tar" perf/FastEpp.LoadGen/bin/Release/net10.0/FastEpp.LoadGen.dll
  fi
}

# test: every test suite, then the AOT binary (publish + smoke). Ends with "N passed, M failed".
cmd_test() {
  cmd_setup
  mkdir -p "$OUT"
  local passed=0 failed=0 rc=0 log line p f
  for proj in $(ls tests/*/*.csproj); do
    log "test $proj"
    log=$OUT/test-$(basename "$proj" .csproj).log
    set +e
    dotnet test "$proj" -c "$CONFIG" -nologo 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    line=$(grep -E '(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+' "$log" | tail -n 1 || true)
    if [ -n "$line" ]; then
      f=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line"); p=$(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")
      passed=$((passed + p)); failed=$((failed + f))
    fi
    if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "${f:-0}" = 0 ]; }; then failed=$((failed + 1)); fi
  done
  log "chaos --fast (replica kill, /metrics hang and endless body, EPP kill fail-closed, endpoints file; ~1 min)"
  if cmd_chaos --fast; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  log "soak --minutes 1 (mixed load with cancelled and abandoned streams; RSS/heap slope, counters back to zero)"
  if cmd_soak --minutes 1; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  set +e; cmd_deploy; rc=$?; set -e
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); elif [ $rc -ne 2 ]; then failed=$((failed + 1)); fi
  log "native AOT publish + smoke test"
  if cmd_publish && cmd_smoke; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  echo "$passed passed, $failed failed"
  [ $failed -eq 0 ]
}

cmd_bench() {
  dotnet run -c Release --project perf/FastEpp.Benchmarks -- --filter "${1:-*}" "${@:2}"
}

# loadgen: the ext_proc driver (smoke | load), e.g. ./build.sh loadgen load --target 127.0.0.1:9002 --concurrency 32
cmd_loadgen() {
  dotnet run -c Release --project perf/FastEpp.LoadGen -- "$@"
}

# perf: the workload suite (compare | overhead | workloads) over fastepp-sim and the gateway emulator.
cmd_perf() {
  ensure_published
  dotnet build perf/FastEpp.Perf/FastEpp.Perf.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  local sub=${1:-compare}; shift || true
  dotnet perf/FastEpp.Perf/bin/Release/net10.0/FastEpp.Perf.dll "$sub" --epp-binary "$AOT_DIR/fastepp" "$@"
}

# demo: a short shared-prefix comparison (1 min of load per mode: 4 then 8 req/s on 2 simulated Qwen3-32B
# replicas, where round robin's uncached prefills exceed the fleet's prefill capacity) of round robin, FastEpp with
# the reference's default configuration, FastEpp's best profile and the oracle (the routing limit), through the
# gateway emulator; prints the table and the HTML report's path.
cmd_demo() {
  cmd_setup
  cmd_perf compare --stages 4:30,8:30 --drain-timeout 120 --modes round-robin,fastepp-default,fastepp-best,oracle "$@"
}

# fuzz: the in-process mutation fuzzer (perf/FastEpp.Fuzz) over every parser target and the ext_proc state machine,
# e.g. ./build.sh fuzz --target openai-request --seconds 600 --seed 7. Prints a table; non-zero exit on any failure.
# ./build.sh fuzz --afl --target T --seconds N: the same target coverage-guided under afl-fuzz (perf/FastEpp.Fuzz/afl.sh).
cmd_fuzz() {
  if [ "${1:-}" = "--afl" ]; then perf/FastEpp.Fuzz/afl.sh "$@"; return; fi
  dotnet build perf/FastEpp.Fuzz/FastEpp.Fuzz.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  dotnet perf/FastEpp.Fuzz/bin/Release/net10.0/FastEpp.Fuzz.dll --out "$OUT/fuzz" "$@"
}

# soak: steady mixed ext_proc load (perf/FastEpp.Soak) against an EPP in a child process for N minutes, sampling RSS,
# GC heap, threads, fds and in-flight counters, e.g. ./build.sh soak --minutes 30. Non-zero exit on a broken rule.
cmd_soak() {
  dotnet build perf/FastEpp.Soak/FastEpp.Soak.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  dotnet perf/FastEpp.Soak/bin/Release/net10.0/FastEpp.Soak.dll "$@"
}

# chaos: fault scenarios under steady load through the gateway emulator on the simulated fleet (perf/FastEpp.Chaos),
# one at a time, each with a pass rule and a figure, e.g. ./build.sh chaos [--fast] [--scenario epp-kill-closed].
# Prints the table (docs/reliability.md §4); non-zero exit on a broken rule.
cmd_chaos() {
  dotnet build perf/FastEpp.Chaos/FastEpp.Chaos.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  dotnet build src/FastEpp.Sim/FastEpp.Sim.csproj -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  dotnet perf/FastEpp.Chaos/bin/Release/net10.0/FastEpp.Chaos.dll --sim-dll src/FastEpp.Sim/bin/Release/net10.0/fastepp-sim.dll \
    --out "$OUT/chaos" "$@"
}

usage() { sed -n '2,3p' "$0" | sed 's/^# //'; }

sub=${1:-}; shift || true
case "$sub" in
  setup|build|test|publish|run|smoke|bench|loadgen|perf|demo|deploy|image|fuzz|soak|chaos) "cmd_$sub" "$@" ;;
  *) usage; exit 2 ;;
esac
