#!/usr/bin/env bash
# Runs the sharded scan on the current kubectl context, then its report:
#   deploy/k8s/run.sh [NAMESPACE]
# The PersistentVolumeClaims mxray-input (the domain list) and mxray-results (ReadWriteMany)
# must exist; the image is deploy/Dockerfile's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ns=(--namespace "${1:-default}")
kubectl "${ns[@]}" apply -f "$here/mxray-scan-job.yaml"
# A Job ends Complete or Failed; wait for whichever comes first.
while :; do
  state=$(kubectl "${ns[@]}" get job mxray-scan \
    -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
  case " $state " in
    *" Complete "*) break ;;
    *" Failed "*) echo "mxray-scan failed: kubectl ${ns[*]} describe job mxray-scan" >&2; exit 1 ;;
  esac
  sleep 30
done
kubectl "${ns[@]}" apply -f "$here/mxray-report-job.yaml"
kubectl "${ns[@]}" wait --for=condition=complete --timeout=2h job/mxray-report
echo "report: /results/report/report.html on the mxray-results volume"
