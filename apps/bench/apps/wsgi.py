"""The bench routes as a WSGI app, for Gunicorn: the same work as work.mjs and handlers.mjs.

The document comes from the same document.json and is serialized per request with the same
compact separators as JSON.stringify, so both sides send identical bytes; /cpu uses the same
pbkdf2 parameters and BENCH_CPU_ITERATIONS.
"""

import hashlib
import json
import os
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "document.json"), encoding="utf-8") as _file:
    DOCUMENT = json.load(_file)

CPU_ITERATIONS = int(os.environ.get("BENCH_CPU_ITERATIONS", "20000"))
TEXT = "text/plain; charset=utf-8"


def _send(start_response, status, content_type, body):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def hello(environ, start_response):
    return _send(start_response, "200 OK", TEXT, b"Hello, World!\n")


def json_document(environ, start_response):
    body = json.dumps(DOCUMENT, separators=(",", ":")).encode("utf-8")
    return _send(start_response, "200 OK", "application/json", body)


def echo(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
    return _send(start_response, "200 OK", content_type, body)


def slow(environ, start_response):
    time.sleep(0.01)
    return _send(start_response, "200 OK", TEXT, b"ok\n")


def cpu(environ, start_response):
    digest = hashlib.pbkdf2_hmac("sha256", b"kelpie", b"bench", CPU_ITERATIONS, 32).hex()
    return _send(start_response, "200 OK", TEXT, digest.encode("ascii"))


ROUTES = {
    ("GET", "/hello"): hello,
    ("GET", "/json"): json_document,
    ("POST", "/echo"): echo,
    ("GET", "/slow"): slow,
    ("GET", "/cpu"): cpu,
}


def application(environ, start_response):
    route = ROUTES.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
    if route is None:
        return _send(start_response, "404 Not Found", TEXT, b"Not Found\n")
    return route(environ, start_response)
