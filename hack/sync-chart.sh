#!/usr/bin/env bash
# Copies the files the Helm chart shares verbatim with config/ into charts/ (Helm reads only files
# inside the chart): the alert rules and the dashboard. The CRD is written there by hack/generate.ts.
# test/tools/helm-chart.test.ts fails while a copy differs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
chart=charts/tenant-isolation-operator
cp config/prometheus/alerts.yaml "$chart/files/alerts.yaml"
cp config/prometheus/grafana-dashboard.json "$chart/files/grafana-dashboard.json"
echo "synced $chart/files"
