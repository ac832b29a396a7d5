#!/usr/bin/env bash
# `make run-cluster`: NATS JetStream, the server (built-in source, anomaly log on the stream)
# and three bridges on one machine. Clients balance over the bridges with round_robin:
#   ipv4:127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053
# Ctrl-C stops everything. State: var/nats (the stream), var/data-cluster (outbox, view state).
set -euo pipefail
VENV=${VENV:-.venv}
NATS_PORT=${NATS_PORT:-4222}
NATS_URL="nats://127.0.0.1:${NATS_PORT}"
SERVER_PORT=${SERVER_PORT:-8080}
MAX_CONNECTION_AGE=${MAX_CONNECTION_AGE:-300}
mkdir -p var/nats var/data-cluster
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM

.tools/bin/nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd var/nats & pids+=($!)
until (exec 3<>"/dev/tcp/127.0.0.1/${NATS_PORT}") 2>/dev/null; do sleep 0.1; done

"$VENV/bin/neural-heatmap-server" --port "$SERVER_PORT" --data-dir var/data-cluster \
  --anomaly-log "$NATS_URL" & pids+=($!)
until curl -fs "http://127.0.0.1:${SERVER_PORT}/health" >/dev/null; do sleep 0.2; done

web_port=${WEB_PORT:-8090}  # each bridge's web port (dashboard, Connect): 8090, 8091, ...
for port in ${BRIDGE_PORTS:-50051 50052 50053}; do
  "$VENV/bin/neural-heatmap-bridge" --listen "127.0.0.1:${port}" \
    --upstream "http://127.0.0.1:${SERVER_PORT}" --anomaly-log "$NATS_URL" \
    --max-connection-age "$MAX_CONNECTION_AGE" --web-port "$web_port" & pids+=($!)
  web_port=$((web_port + 1))
done
echo "cluster up: NATS ${NATS_URL}, server :${SERVER_PORT}, bridges on ${BRIDGE_PORTS:-50051 50052 50053}" \
  "(dashboards from :${WEB_PORT:-8090} up)"
wait -n "${pids[@]}"
