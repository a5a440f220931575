#!/usr/bin/env bash
# The prober's cost per pod, as the README states it: runs the prober against the test
# application on 127.0.0.1 (HTTP and HTTPS, one prober each) at the default 5 s interval, asks
# each verdict once a second as the kubelet does, and prints CPU time and memory from /proc.
#   hack/prober/measure.sh [seconds, default 60]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${1:-60}
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/prober" .)
(cd "$here/../testapp" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/testapp" .)
LISTEN_HOST=127.0.0.1 PORTS=18180/http,18543/https "$work/testapp" >/dev/null &
pids+=($!)
for scheme in http https; do
  port=$([[ $scheme == http ]] && echo 18180 || echo 18543)
  verdict=$([[ $scheme == http ]] && echo 18190 || echo 18191)
  "$work/prober" -scheme="$scheme" -host=127.0.0.1 -port="$port" -path=/healthz -interval=5 \
    -listen="127.0.0.1:$verdict" >"$work/$scheme.log" &
  pids+=($!)
done
prober=("${pids[1]}" "${pids[2]}")
# CPU time in nanoseconds (schedstat's first field), summed over the process's threads.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{sum += $1} END {print sum}'; }
sleep 1
declare -A before
for pid in "${prober[@]}"; do before[$pid]=$(cpu_ns "$pid"); done
start=$(date +%s%N)
for _ in $(seq "$seconds"); do
  curl -s -o /dev/null http://127.0.0.1:18190/ && curl -s -o /dev/null http://127.0.0.1:18191/
  sleep 1
done
elapsed=$(($(date +%s%N) - start))
i=0
for scheme in http https; do
  pid=${prober[$i]}
  used=$(($(cpu_ns "$pid") - ${before[$pid]}))
  rss=$(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status)
  anon=$(awk '/^RssAnon/ {print $2}' /proc/"$pid"/status)
  hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$pid"/status)
  awk -v s="$scheme" -v u="$used" -v e="$elapsed" -v r="$rss" -v a="$anon" -v h="$hwm" 'BEGIN {
    printf "%-5s CPU %.3f millicores (%.1f ms over %.0f s); RSS %.1f MiB (anonymous %.1f MiB, peak %.1f MiB)\n",
      s, 1000 * u / e, u / 1e6, e / 1e9, r / 1024, a / 1024, h / 1024 }'
  grep -c . "$work/$scheme.log" | xargs printf "      %s log lines\n"
  i=$((i + 1))
done
