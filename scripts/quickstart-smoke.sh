#!/usr/bin/env bash
# Proves the README's quick start on this checkout: `npm start` serves the
# registry on 127.0.0.1:5000 with its embedded defaults (SQLite and files
# under ./data), prints the generated admin password once, and skopeo signs
# in with it and copies an image into library/hello:1 and back.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
log="$work/server.log"
cleanup() {
  [ -n "${server_pid:-}" ] && kill -- -"$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

setsid npm start >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  grep -q 'listening on http://127.0.0.1:5000' "$log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log"; echo "npm start exited early"; exit 1; }
  sleep 0.5
done
grep -q 'listening on http://127.0.0.1:5000' "$log" || { cat "$log"; echo "npm start did not listen on 127.0.0.1:5000"; exit 1; }

password=$(sed -n 's/.*created the first user "admin" with password: //p' "$log")
[ -n "$password" ] || { cat "$log"; echo "npm start printed no admin password (is ./data from an earlier run? remove it)"; exit 1; }
creds="admin:$password"
if skopeo inspect --tls-verify=false docker://127.0.0.1:5000/library/hello:1 >/dev/null 2>&1; then
  echo "anonymous access was allowed on a private registry"; exit 1
fi

node --import tsx -e "
  import('./test/helpers/oci-layout.ts').then((m) => m.writeOciLayout(process.argv[1], { salt: 'quickstart-' + Date.now() }));
" "$work/layout"
skopeo copy --quiet --dest-tls-verify=false --dest-creds "$creds" "oci:$work/layout:multi" docker://127.0.0.1:5000/library/hello:1
skopeo inspect --tls-verify=false --creds "$creds" docker://127.0.0.1:5000/library/hello:1 >"$work/inspect.json"
grep -q '"Name": "127.0.0.1:5000/library/hello"' "$work/inspect.json" || { cat "$work/inspect.json"; exit 1; }
skopeo copy --quiet --src-tls-verify=false --src-creds "$creds" docker://127.0.0.1:5000/library/hello:1 "oci:$work/out:hello"
test -d data/blobs && test -f data/hatoba.db
echo "quick start OK: skopeo copied library/hello:1 into and out of npm start's registry (data in ./data)"
