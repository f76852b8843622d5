#!/usr/bin/env bash
# Queues a sharded mxray scan on Slurm: SHARDS array tasks, then the report once all succeeded.
#
#   deploy/slurm/submit.sh SHARDS OUT_ROOT [mxray scan options...]
#   deploy/slurm/submit.sh 8 /results --domains /data/top-1m.csv.gz --seed 1
#
# Run from anywhere; OUT_ROOT must be on a file system every node sees. MXRAY (the binary,
# default mxray from PATH) is passed on to the tasks, as is the rest of the environment.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SHARDS OUT_ROOT [mxray scan options...]" >&2
  exit 2
fi
shards=$1 root=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export MXRAY_DEPLOY=${MXRAY_DEPLOY:-$(dirname "$here")}
export MXRAY_SHARDS=$shards
mkdir -p "$root"
scan=$(sbatch --parsable --export=ALL --array="0-$((shards - 1))" --chdir="$root" \
  "$here/mxray-scan.sbatch" "$root" "$@")
report=$(sbatch --parsable --export=ALL --dependency="afterok:${scan%%;*}" --chdir="$root" \
  "$here/mxray-report.sbatch" "$root" "$shards")
echo "scan array ${scan%%;*} ($shards tasks), report $report: $root/report/report.html"
