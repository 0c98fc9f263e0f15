"""A webhook over https goes to the checked address, with the host's name in SNI and in the
certificate check: a receiver whose certificate names another host is refused."""

from __future__ import annotations

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clinic.webhooks import _PinnedHTTPSConnection


@pytest.fixture
def tls_receiver(tmp_path):
    """An https server on loopback whose certificate (self-signed) names hooks.example."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.example"),
            *("-addext", "subjectAltName=DNS:hooks.example"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    seen: dict[str, str | None] = {}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.__setitem__("sni", name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["host"] = self.headers["Host"]
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert, seen
    finally:
        server.shutdown()
        server.server_close()


def test_https_connects_to_the_address_and_checks_the_certificate_against_the_host_name(tls_receiver):
    port, cert, seen = tls_receiver
    trusted = ssl.create_default_context(cafile=str(cert))
    connection = _PinnedHTTPSConnection("hooks.example", "127.0.0.1", port=port, timeout=5, context=trusted)
    connection.request("POST", "/hook", body=b"{}")
    assert connection.getresponse().status == 204
    connection.close()
    assert seen == {"sni": "hooks.example", "host": f"hooks.example:{port}"}

    # The same address under a name the certificate does not carry is refused.
    other = _PinnedHTTPSConnection("other.example", "127.0.0.1", port=port, timeout=5, context=trusted)
    with pytest.raises(ssl.SSLCertVerificationError):
        other.request("POST", "/hook", body=b"{}")
    other.close()
