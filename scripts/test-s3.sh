#!/usr/bin/env bash
# End-to-end test of ruko-api's S3 backend against moto's S3 server (no root needed).
#
#   scripts/test-s3.sh            uses $RUKO_BIN_DIR/ruko-api, else .build/debug/ruko-api
#
# Needs: python3 with moto[server] and boto3 (pip install 'moto[server]' boto3), curl.
# moto does not check presigned signatures, so every URL ruko-api hands out is also re-signed
# with botocore (scripts/s3-verify-presigned.py) and must match it byte for byte.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="${RUKO_BIN_DIR:-$root/.build/debug}/ruko-api"
[[ -x $bin ]] || { echo "test-s3: $bin not found; run 'swift build --product ruko-api' first" >&2; exit 1; }
python3 -c 'import moto.server, boto3' 2>/dev/null || {
    echo "test-s3: python3 needs moto[server] and boto3 (pip install 'moto[server]' boto3)" >&2; exit 1; }

work=$(mktemp -d /tmp/ruko-test-s3.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "test-s3: $1 did not come up" >&2; return 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
fail() { echo "test-s3: FAIL: $*" >&2; exit 1; }

moto_port=$(free_port)
python3 -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$moto_port/moto-api/"

access=AKIARUKOTEST0000001
secret=ruko/secret+key/for/moto
region=eu-central-1
bucket=ruko-slugs
python3 - "$moto_port" "$bucket" "$region" <<'PY'
import sys, boto3
port, bucket, region = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                  aws_access_key_id="x", aws_secret_access_key="y")
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
PY

data="$work/data"
"$bin" users:add alice --data "$data" >/dev/null
"$bin" apps:create web --data "$data" >/dev/null
"$bin" access:add web alice --write --data "$data" >/dev/null
"$bin" config:set web COLOR=blue --data "$data" >/dev/null
cat >"$data/s3.json" <<JSON
{"endpoint": "http://127.0.0.1:$moto_port", "bucket": "$bucket", "region": "$region",
 "access_key_id": "$access", "secret_access_key": "$secret"}
JSON
token=$("$bin" token --data "$data")

api_port=$(free_port)
"$bin" serve --data "$data" --listen "127.0.0.1:$api_port" --storage s3 >"$work/api.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/healthz"

push() {
    curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"user":"alice"}' "http://127.0.0.1:$api_port/v1/apps/web/pushes"
}

first=$(push)
[[ $(json 'd["repo"]["exists"]' <<<"$first") == False ]] || fail "repo exists before any upload"
put_url=$(json 'd["repo"]["put_url"]' <<<"$first")
get_url=$(json 'd["repo"]["get_url"]' <<<"$first")
slug_url=$(json 'd["slug"]["put_url"]' <<<"$first")
[[ $put_url == "http://127.0.0.1:$moto_port/$bucket/apps/web/repo.tgz?"* ]] || fail "not a path-style URL: $put_url"

python3 "$here/s3-verify-presigned.py" PUT "$put_url" "$access" "$secret" "$region"
python3 "$here/s3-verify-presigned.py" GET "$get_url" "$access" "$secret" "$region"
python3 "$here/s3-verify-presigned.py" PUT "$slug_url" "$access" "$secret" "$region"

head -c 200000 /dev/urandom >"$work/repo.tgz"
curl -fsS -T "$work/repo.tgz" "$put_url" -o /dev/null || fail "presigned PUT refused"
curl -fsS "$get_url" -o "$work/back.tgz" || fail "presigned GET refused"
cmp "$work/repo.tgz" "$work/back.tgz" || fail "object read back differs"
echo "ok: presigned PUT then GET of 200000 bytes round-trips through moto"

echo slug >"$work/slug.tgz"
curl -fsS -T "$work/slug.tgz" "$slug_url" -o /dev/null || fail "slug PUT refused"

second=$(push)
[[ $(json 'd["repo"]["exists"]' <<<"$second") == True ]] || fail "repo not seen after upload (HEAD through presigned URL)"
[[ $(json 'd["cache"]["exists"]' <<<"$second") == False ]] || fail "cache should not exist"
echo "ok: the API sees the uploaded repo (presigned HEAD) and not the missing cache"

auth=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"user":"alice","access":"read"}' "http://127.0.0.1:$api_port/v1/apps/web/authorize")
[[ $(json 'd["repo"]["exists"]' <<<"$auth") == True ]] || fail "authorize does not see the repo"
fetch_url=$(json 'd["repo"]["get_url"]' <<<"$auth")
python3 "$here/s3-verify-presigned.py" GET "$fetch_url" "$access" "$secret" "$region"
curl -fsS "$fetch_url" | cmp - "$work/repo.tgz" || fail "authorize's repo URL gives other bytes"
echo "ok: authorize hands out a working presigned GET for fetches"

python3 - "$moto_port" "$bucket" "$region" "$work/repo.tgz" <<'PY'
import sys, boto3
port, bucket, region, path = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                  aws_access_key_id="x", aws_secret_access_key="y")
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
assert keys[0] == "apps/web/repo.tgz" and keys[1].startswith("apps/web/slugs/s-"), keys
assert s3.get_object(Bucket=bucket, Key="apps/web/repo.tgz")["Body"].read() == open(path, "rb").read()
print("ok: bucket holds", ", ".join(keys))
PY
echo "test-s3: PASS"
