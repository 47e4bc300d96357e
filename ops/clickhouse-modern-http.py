#!/usr/bin/env python3
"""ClickHouse's HTTP interface in front of chDB, the ClickHouse engine in-process (chdb-core
26.9), so the tests can run the store's *modern* dialect (LowCardinality, CODEC, TTL) against a
current ClickHouse. Debian only ships clickhouse-server 18.16, which gets the shared subset.

Started by ops/clickhouse-modern.sh; not for production. What ClickHouse 26.9 itself does here:
parsing and running every statement, the MergeTree engines, TTL, codecs, reading the RowBinary
rows of inserts (gzip too, as `INSERT ... FROM INFILE`) and writing RowBinary / TabSeparated
answers, and every error text. What it does not prove: clickhouse-server's own HTTP handler
(its insert path, `wait_end_of_query`, authentication, which this file ignores, settings, and
queries running at the same time). What this file does: the HTTP framing of
https://clickhouse.com/docs/interfaces/http for the requests the store sends, which are

    POST /?wait_end_of_query=1                      body: one statement
    POST /?wait_end_of_query=1&query=INSERT ... FORMAT RowBinary
                                                    body: the rows (maybe Content-Encoding: gzip)
    GET  /ping                                      "Ok."

plus `GET /?query=...`. An error answers with ClickHouse's own `Code: N. DB::Exception: ...` text
and the `X-ClickHouse-Exception-Code` header, always as 500 (the server answers some codes with a
4xx; the store reads the code, not the status). Statements run one at a time (one chDB session);
the store never needs two at once to make progress.

    python3 ops/clickhouse-modern-http.py --port 18124 --path STATE_DIR
"""
import argparse
import gzip
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import zlib
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from chdb import session as chdb_session
except ImportError:
    sys.exit(
        "clickhouse-modern-http: chDB is not installed: run ops/install-deps.sh "
        "(python3 -m pip install chdb-core)"
    )

# `INSERT INTO t (cols) FORMAT Name` with the data in the body: ClickHouse reads it from a file
# instead, `... FROM INFILE 'f' [COMPRESSION 'gzip'] FORMAT Name`.
INSERT_FORMAT = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*;?\s*$", re.I | re.S)
CODE = re.compile(r"Code:\s*(\d+)")


class Engine:
    def __init__(self, path):
        self.session = chdb_session.Session(path)
        self.lock = threading.Lock()
        # Insert bodies wait here for `FROM INFILE`, which expands globs: a name of its own
        # with none of `*?{}[`, `'` or `\`, removed when the process ends.
        self.tmp = tempfile.mkdtemp(prefix="clickhouse_modern_")
        if re.search(r"[*?{}\[\]'\\]", self.tmp):
            sys.exit(f"clickhouse-modern-http: temp dir {self.tmp} has characters FROM INFILE reads")

    def run(self, sql, body, gzipped):
        """Returns (status, bytes, exception code or None)."""
        insert = INSERT_FORMAT.match(sql) if body else None
        infile = None
        try:
            if insert:
                fd, infile = tempfile.mkstemp(dir=self.tmp, suffix=".gz" if gzipped else ".bin")
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                compression = " COMPRESSION 'gzip'" if gzipped else ""
                sql = f"{insert.group(1)} FROM INFILE '{infile}'{compression} FORMAT {insert.group(2)}"
            elif body:
                # The server runs `query` parameter + body as one statement.
                try:
                    if gzipped:
                        body = gzip.decompress(body)
                    text = body.decode("utf-8")
                except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
                    # A permanent error, with a code, so the client does not retry it.
                    msg = f"Code: 27. DB::Exception: Cannot read the query: {e}. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)\n"
                    return 400, msg.encode(), "27"
                sql = (sql + "\n" if sql else "") + text
            if not sql.strip():
                return 400, b"Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)\n", "62"
            with self.lock:
                result = self.session.query(sql, "TabSeparated")
            return 200, result.bytes(), None
        except Exception as e:  # chDB raises ChdbError with ClickHouse's message
            text = str(e).strip() + "\n"
            m = CODE.search(text)
            return 500, text.encode("utf-8", "replace"), m.group(1) if m else None
        finally:
            if infile:
                os.unlink(infile)


def handler(engine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            if os.environ.get("CLICKHOUSE_MODERN_HTTP_LOG"):
                super().log_message(fmt, *args)

        def answer(self, status, body, code=None):
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            if code:
                self.send_header("X-ClickHouse-Exception-Code", code)
            self.end_headers()
            self.wfile.write(body)

        def handle_query(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path in ("/ping", "/ping/"):
                return self.answer(200, b"Ok.\n")
            if url.path not in ("/", ""):
                return self.answer(404, b"There is no handle " + url.path.encode() + b"\n")
            params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            sql = params.get("query", [""])[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            gzipped = self.headers.get("Content-Encoding", "").lower() == "gzip"
            self.answer(*engine.run(sql, body, gzipped))

        do_GET = handle_query
        do_POST = handle_query

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True, help="chDB data directory")
    a = p.parse_args()
    os.makedirs(a.path, exist_ok=True)
    engine = Engine(a.path)
    # SIGTERM (ops/clickhouse-modern.sh stop) ends the process through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer((a.host, a.port), handler(engine))
    version = engine.run("SELECT version()", b"", False)[1].decode().strip()
    print(f"clickhouse-modern-http: ClickHouse {version} (chDB) on http://{a.host}:{a.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        shutil.rmtree(engine.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
