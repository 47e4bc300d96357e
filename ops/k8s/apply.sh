#!/usr/bin/env bash
# Deploys flamestream to the current kubectl context:
#   1. the `flamestream-pipelines` ConfigMap from the repository's pipelines/*.toml (the files CI
#      validates), so the cluster runs exactly those pipeline files;
#   2. the migrate Job (recreated: Jobs are immutable), waiting for it to finish;
#   3. everything else in ops/k8s (kustomization.yaml).
#
#   ops/k8s/apply.sh [--dry-run]     (--dry-run: print the objects, change nothing)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
NS=flamestream
dry=()
[[ "${1:-}" == --dry-run ]] && dry=(--dry-run=client -o yaml)

command -v kubectl >/dev/null || { echo "[k8s] error: kubectl not found" >&2; exit 1; }
kubectl apply "${dry[@]}" -f "$HERE/namespace.yaml"
kubectl -n "$NS" create configmap flamestream-pipelines \
    --from-file="$REPO/pipelines" --dry-run=client -o yaml |
    kubectl apply "${dry[@]}" -f -
if ((${#dry[@]} == 0)); then
    kubectl -n "$NS" delete job flamestream-migrate --ignore-not-found
fi
kubectl apply "${dry[@]}" -k "$HERE"
if ((${#dry[@]} == 0)); then
    echo "[k8s] waiting for the migrate job" >&2
    kubectl -n "$NS" wait --for=condition=complete --timeout=900s job/flamestream-migrate
    kubectl -n "$NS" rollout status deploy/flamestream-central --timeout=600s
fi
