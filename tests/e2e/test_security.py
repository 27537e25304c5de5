"""HTTPS with --tls-cert/--tls-key, an agent that trusts only what it is told to, and a token that is never logged."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "director.crt", tmp_path / "director.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _serve(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "mlpower-director"), "serve", "--meter", "sim://?rate=0.1", "--out", str(tmp_path / "runs"),
         "--port", "0", "--settle-s", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _agent(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "mlpower-agent"), "run", "--director", url,
         "--token-file", str(tmp_path / "runs" / "director.token"), "--out", str(tmp_path / "agent"),
         "--benchmark", "builtin", "--scenario", "SingleStream", "--duration", "1",
         "--gpus", "sim:1", "--retry-s", "2", *extra],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_https_session_and_the_token_appears_in_no_file_or_log(tmp_path: Path, certificate) -> None:
    cert, key = certificate
    director = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert director.stdout is not None
        lines = [director.stdout.readline() for _ in range(4)]  # listening, dashboard, token, agent
        assert lines[0].startswith("director listening on https://127.0.0.1:"), lines
        assert f"--ca-file {cert}" in lines[3] and lines[2].startswith("token: new, written to ")
        url = lines[0].split()[3]
        # without being told to trust the self-signed certificate, the agent refuses, at once and clearly
        untrusted = _agent(url, tmp_path)
        assert untrusted.returncode == 2 and "does not trust" in untrusted.stderr and "--ca-file" in untrusted.stderr
        plain = _agent(url.replace("https://", "http://"), tmp_path)
        assert plain.returncode == 2 and "director" in plain.stderr
        trusted = _agent(url, tmp_path, "--ca-file", str(cert))
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert "Power metric" in trusted.stdout
    finally:
        director.terminate()
        out, err = director.communicate(timeout=20)
    token = (tmp_path / "runs" / "director.token").read_text().strip()
    assert len(token) >= 32
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "director.token"]
    assert any(p.name == "server.log" for p in written) and any(p.name == "client.log" for p in written)
    leaks = [str(p) for p in written if token.encode() in p.read_bytes()]
    assert not leaks, leaks
    for text in (lines[0] + lines[1] + lines[2] + out + err, untrusted.stdout + untrusted.stderr,
                 trusted.stdout + trusted.stderr):  # fmt: skip
        assert token not in text


def test_tls_options_are_checked_before_anything_starts(tmp_path: Path, certificate) -> None:
    cert, key = certificate
    half = _serve(tmp_path, "--tls-cert", str(cert))
    _, err = half.communicate(timeout=30)
    assert half.returncode == 2 and "needs both --tls-cert and --tls-key" in err
    swapped = _serve(tmp_path, "--tls-cert", str(key), "--tls-key", str(cert))
    _, err = swapped.communicate(timeout=30)
    assert swapped.returncode == 2 and "cannot use --tls-cert" in err


def test_a_restarted_director_keeps_its_token_unless_told_to_rotate(tmp_path: Path) -> None:
    """After a crash the agents still hold the old token: a second serve reuses it, and says so."""
    import argparse
    import stat

    from director.serve import TOKEN_FILE_NAME, load_or_create_token

    def start(new_token: bool = False) -> tuple[str, str]:
        args = argparse.Namespace(token=None, token_file=None, new_token=new_token)
        token, path, note = load_or_create_token(args, tmp_path)
        assert path == tmp_path / TOKEN_FILE_NAME and stat.S_IMODE(path.stat().st_mode) == 0o600
        return token, note

    first, note = start()
    assert "new" in note
    again, note = start()
    assert again == first and "reusing" in note and "--new-token" in note
    rotated, note = start(new_token=True)
    assert rotated != first and "new" in note and (tmp_path / TOKEN_FILE_NAME).read_text().strip() == rotated
