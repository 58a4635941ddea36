#!/usr/bin/env bash
# API throughput of a release `keptn serve`, measured with wrk from a second process:
# POST /api/v1/event (1.5 KB task-finished events) and GET /api/mongodb-datastore/event.
# Usage: benches/scripts/api-throughput.sh [duration, default 10s]
# CONNECTIONS="16 64 256" sets the wrk connection counts of the POST runs (default: 16 256).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10s}"
connections="${CONNECTIONS:-16 256}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p keptn
keptn=target/release/keptn
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=wrk-token
"$keptn" serve --data-dir "$dir" --listen "127.0.0.1:$port" --token "$token" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.05; done
shipyard=$(printf 'apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata: {name: load}\nspec:\n  stages:\n    - name: dev\n' | base64 -w0)
curl -sf -X POST -H "x-token: $token" -H 'content-type: application/json' \
  -d "{\"name\":\"load\",\"shipyard\":\"$shipyard\"}" "http://127.0.0.1:$port/api/controlPlane/v1/project" >/dev/null
message=$(printf 'x%.0s' $(seq 1100))
cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-token"] = "$token"
local n = 0
request = function()
  n = n + 1
  local body = '{"specversion":"1.0","type":"sh.keptn.event.test.finished","source":"wrk",' ..
    '"triggeredid":"wrk-' .. n .. '","data":{"project":"load","stage":"dev","service":"svc",' ..
    '"status":"succeeded","result":"pass","message":"$message"}}'
  return wrk.format(nil, nil, nil, body)
end
LUA
for c in $connections; do
  echo "== POST /api/v1/event, $c connections, $duration"
  wrk -t2 -c"$c" -d"$duration" -s "$dir/post.lua" "http://127.0.0.1:$port/api/v1/event"
done
stored=$(curl -sf -H "x-token: $token" \
  "http://127.0.0.1:$port/api/mongodb-datastore/event?project=load&pageSize=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["totalCount"])')
echo "== events stored in the project: $stored"
echo "== GET /api/mongodb-datastore/event?project=load&pageSize=20, 16 connections, $duration"
wrk -t2 -c16 -d"$duration" -H "x-token: $token" \
  "http://127.0.0.1:$port/api/mongodb-datastore/event?project=load&pageSize=20"
