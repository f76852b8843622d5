#!/usr/bin/env bash
# deploy/shard-task.sh - the one command each shard of a sharded scan runs, whatever starts it
# (a Slurm array task, a Kubernetes Indexed Job's pod, a shell loop):
#
#   shard-task.sh INDEX COUNT OUT_ROOT [mxray scan options...]
#
# scans shard INDEX of COUNT (`--shard INDEX/COUNT`) into OUT_ROOT/shard-INDEX. A task started
# again after a preemption, a node failure or a pod restart finds its run.json there and goes on
# with `--resume` (nothing lost, nothing repeated), so schedulers may requeue freely. Every shard
# must get the same input and options (the same --seed above all): run.json records them and a
# resume with others is refused.
#   MXRAY   the mxray binary (default: mxray from PATH)
# Afterwards: mxray report OUT_ROOT/shard-*/ --out OUT_ROOT/report
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 INDEX COUNT OUT_ROOT [mxray scan options...]" >&2
  exit 2
fi
index=$1 count=$2 root=$3
shift 3
case "$index$count" in
  *[!0-9]*) echo "$0: INDEX and COUNT are numbers (got '$index' and '$count')" >&2; exit 2 ;;
esac
out=$root/shard-$index
resume=()
if [ -f "$out/run.json" ]; then
  echo "shard $index/$count: $out/run.json exists, resuming" >&2
  resume=(--resume)
fi
mkdir -p "$root"
# exec: the scheduler's SIGTERM (Slurm's --signal, the kubelet's termination) reaches mxray
# itself, which flushes valid files and exits; the next start of this task resumes.
exec "${MXRAY:-mxray}" scan "$@" --shard "$index/$count" --out "$out" ${resume[@]+"${resume[@]}"}
