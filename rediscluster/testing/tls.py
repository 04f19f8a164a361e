"""TLS settings for harness servers: the files a node serves and clients trust.

A node started with :class:`TlsFiles` listens for TLS only (``port 0``), on the
port the harness picked, and uses TLS on the cluster bus and for replication
too, so no byte between nodes or to clients travels in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TlsFiles"]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA that signed every node, and one node certificate."""

    ca_file: str
    cert_file: str
    key_file: str

    def config_lines(self, port: int) -> list[str]:
        """Return the server config lines that serve TLS on ``port`` only."""
        return [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {_quote(self.cert_file)}",
            f"tls-key-file {_quote(self.key_file)}",
            f"tls-ca-cert-file {_quote(self.ca_file)}",
            "tls-cluster yes",
            "tls-replication yes",
            # Clients prove nothing; the tests check the server side only.
            "tls-auth-clients optional",
        ]

    def client_kwargs(self) -> dict[str, Any]:
        """Return ``redis.Redis`` keywords that trust this CA.

        The harness skips the host name check, because a test may give a node
        a certificate for another name on purpose.
        """
        return {
            "ssl": True,
            "ssl_ca_certs": self.ca_file,
            "ssl_check_hostname": False,
        }


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
