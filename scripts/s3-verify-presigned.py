#!/usr/bin/env python3
"""Check a ruko-api SigV4 presigned URL against botocore, AWS's own signer.

usage: s3-verify-presigned.py METHOD URL ACCESS_KEY SECRET_KEY REGION

botocore signs the same method, path-style URL, expiry and X-Amz-Date (its clock is pinned
to the URL's timestamp); the script exits 0 when both signatures are identical.
"""
import datetime
import sys
import urllib.parse

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest


def main() -> int:
    method, url, access_key, secret_key, region = sys.argv[1:6]
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    stamp = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda: stamp
    credentials = botocore.credentials.Credentials(access_key, secret_key)
    signer = botocore.auth.S3SigV4QueryAuth(credentials, "s3", region, expires=int(query["X-Amz-Expires"]))
    request = AWSRequest(method=method, url=f"{parts.scheme}://{parts.netloc}{parts.path}")
    signer.add_auth(request)
    theirs = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    ours = query["X-Amz-Signature"]
    if theirs["X-Amz-Signature"] != ours:
        print(f"signature mismatch for {method} {url}\n  ruko-api: {ours}\n  botocore: {theirs['X-Amz-Signature']}")
        return 1
    for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Algorithm"):
        if theirs[name] != query[name]:
            print(f"{name} differs: {query[name]} vs {theirs[name]}")
            return 1
    print(f"ok: {method} {parts.path} signature matches botocore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
