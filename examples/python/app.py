"""The python example's web process: a stdlib HTTP server that uses a vendored dependency."""
import http.server
import os

import six


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = six.ensure_binary("Hello from ruko (python example, six %s)\n" % six.__version__)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
