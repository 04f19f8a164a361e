"""Throw-away certificate authorities and node certificates for the TLS tests.

The ``openssl`` command line tool makes them, since the ``cryptography``
package is not a dependency of the suite. Keys are P-256, which is quick to
generate, and certificates live one day.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rediscluster.testing import TlsFiles

_CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


def openssl_missing() -> str | None:
    """Return why certificates cannot be made here, or None when they can."""
    if shutil.which("openssl") is None:
        return "the openssl command is not on PATH; install openssl"
    return None


def _openssl(*args: str) -> None:
    subprocess.run(
        ["openssl", *args], check=True, capture_output=True, timeout=30
    )


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """Create a self-signed CA; return its certificate and key paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_CURVE, "-nodes", "-days", "1",
        "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
    )
    return cert, key


def make_cert(
    directory: Path, name: str, ca: tuple[Path, Path], alt_names: str
) -> tuple[Path, Path]:
    """Create a certificate signed by ca for ``alt_names`` (``DNS:x,IP:y``)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    request = directory / f"{name}.csr"
    extensions = directory / f"{name}.ext"
    extensions.write_text(f"subjectAltName={alt_names}\n")
    _openssl(
        "req", "-new", *_CURVE, "-nodes", "-subj", f"/CN={name}",
        "-keyout", str(key), "-out", str(request),
    )
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]),
        "-CAkey", str(ca[1]), "-CAcreateserial", "-days", "1",
        "-extfile", str(extensions), "-out", str(cert),
    )
    return cert, key


def node_files(directory: Path, alt_names: str, ca_name: str = "ca") -> TlsFiles:
    """Create a CA and one server certificate it signs, for every node."""
    ca = make_ca(directory, ca_name)
    cert, key = make_cert(directory, f"{ca_name}-server", ca, alt_names)
    return TlsFiles(ca_file=str(ca[0]), cert_file=str(cert), key_file=str(key))
