#!/usr/bin/env bash
# k8s/install.sh: platform for the Bitcoin Volatility Predictor on a kind cluster.
#   1. kind cluster "bvp" (k8s/kind-cluster.yaml) unless it exists
#   2. cert-manager (KServe's webhook certificates)
#   3. KServe CRDs + controller in Standard mode (plain Deployments; no Knative, no Istio)
#   4. standalone Kubeflow Pipelines
#   5. namespace "bvp" and the Secrets the chart references (MinIO/S3 keys, PostgreSQL)
# MinIO, PostgreSQL and MLflow come with the chart (charts/btc-volatility/values-kind.yaml),
# deployed by `skaffold dev`. Every version is pinned below; rerunning is safe.
set -euo pipefail

KIND_CLUSTER="${KIND_CLUSTER:-bvp}"
CERT_MANAGER_VERSION="v1.19.1"
KSERVE_VERSION="v0.20.0"          # CRD schemas in tests/testdata/k8s-schemas are from this tag
KFP_VERSION="2.17.0"              # backend matching the kfp 2.17.x SDK in uv.lock
NAMESPACE="bvp"
HERE="$(cd "$(dirname "$0")" && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "install.sh: '$1' not found on PATH ($2)" >&2; exit 1; }; }
need docker "https://docs.docker.com/get-docker/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation (v0.33.0)"
need kubectl "scripts/get-k8s-tools.sh .tools/bin"
need helm "scripts/get-k8s-tools.sh .tools/bin (Helm v4)"

if ! kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  kind create cluster --name "$KIND_CLUSTER" --config "$HERE/kind-cluster.yaml"
fi
kubectl config use-context "kind-$KIND_CLUSTER"

echo "==> cert-manager $CERT_MANAGER_VERSION"
helm upgrade --install cert-manager oci://quay.io/jetstack/charts/cert-manager \
  --version "$CERT_MANAGER_VERSION" --namespace cert-manager --create-namespace \
  --set crds.enabled=true --wait --timeout 5m

echo "==> KServe $KSERVE_VERSION (Standard mode)"
helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd \
  --version "$KSERVE_VERSION" --namespace kserve --create-namespace --wait
helm upgrade --install kserve oci://ghcr.io/kserve/charts/kserve-resources \
  --version "$KSERVE_VERSION" --namespace kserve --create-namespace \
  --set kserve.controller.deploymentMode=Standard \
  --set kserve.controller.gateway.disableIngressCreation=true \
  --wait --timeout 10m

echo "==> Kubeflow Pipelines $KFP_VERSION (standalone)"
kubectl apply -k "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=$KFP_VERSION"
kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kubectl apply -k "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=$KFP_VERSION"

echo "==> namespace $NAMESPACE and Secrets"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
rand() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"; }
if ! kubectl -n "$NAMESPACE" get secret bvp-s3 >/dev/null 2>&1; then
  kubectl -n "$NAMESPACE" create secret generic bvp-s3 \
    --from-literal=AWS_ACCESS_KEY_ID="bvp$(rand 8)" \
    --from-literal=AWS_SECRET_ACCESS_KEY="$(rand 32)"
fi
if ! kubectl -n "$NAMESPACE" get secret bvp-postgres >/dev/null 2>&1; then
  pw="$(rand 24)"
  kubectl -n "$NAMESPACE" create secret generic bvp-postgres \
    --from-literal=POSTGRES_USER=mlflow --from-literal=POSTGRES_PASSWORD="$pw" \
    --from-literal=POSTGRES_DB=mlflow \
    --from-literal=uri="postgresql://mlflow:${pw}@bvp-btc-volatility-postgresql.${NAMESPACE}:5432/mlflow"
fi
# Pipeline pods (namespace kubeflow) log to MLflow and write model artifacts to MinIO.
kubectl -n kubeflow get secret bvp-s3 >/dev/null 2>&1 || \
  kubectl -n "$NAMESPACE" get secret bvp-s3 -o json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); m=d["metadata"]; d["metadata"]={"name":m["name"],"namespace":"kubeflow"}; print(json.dumps(d))' \
  | kubectl apply -f -

echo "==> waiting for Kubeflow Pipelines (a few minutes on a laptop)"
kubectl -n kubeflow wait --for=condition=Available deployment --all --timeout=15m
echo "done: now run 'skaffold dev' from the repository root (k8s/README.md)."
