#!/usr/bin/env bash
# Issue 19's throughput table and chart: the bare client, the pipeline and the seed's
# shape at concurrency 1, 4, 8, 32 and 64, over plain HTTP/1.1, HTTPS/1.1 and HTTPS/2
# (and, over HTTPS/2, the transport's default protocol beside the pipeline), each side
# alternating with the others in every round. The bare client runs on three runtimes
# (the fastest is the baseline) and once more signing each request itself
# (`current+sign`); the sink is the load driver's default (`spinning`). Appends to
# benches/figures/throughput.csv (remove it first for a fresh set), then redraws
# benches/figures/throughput.svg.
# Each point is the median of ROUNDS rounds (5 unless the environment says otherwise;
# 3 were too few on the 2-vCPU guests, where one run's C = 8 ratio moved by 3 points
# against 20-round runs: BENCHMARKS.md, "Round 13").
# Usage: [ROUNDS=R] benches/throughput-figures.sh [extra load flags, e.g. -n 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
csv=benches/figures/throughput.csv
mkdir -p benches/figures
cargo build --release --example load
load=target/release/examples/load
for protocol in "" "--tls" "--tls --h2"; do
  sides=raw,pipeline,seed
  if [ "$protocol" = "--tls --h2" ]; then sides=raw,pipeline,seed,default; fi
  # shellcheck disable=SC2086
  "$load" $protocol -c 1,4,8,32,64 -n 40000 --rounds "${ROUNDS:-5}" --sides "$sides" \
    --client-runtimes current,multi1,multi2,current+sign --csv "$csv" "$@"
done
python3 benches/chart.py "$csv" benches/figures/throughput.svg
