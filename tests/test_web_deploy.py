"""Serving the page to other machines: behind the README's nginx block with --public-url, the password rules,
and the slowdown after wrong passwords."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.types import ASGIApp

from batchupdate.cli import main
from batchupdate.errors import InputError
from batchupdate.sandbox import RunningSandbox
from batchupdate.web import WebConfig, create_app
from batchupdate.web import command as web_command_module
from batchupdate.web.command import public_address, web_config
from batchupdate.web.security import FREE_TRIES, LONGEST_WAIT, Throttle
from tests.fakes import REPO, connection_to, free_port, mixed_unit_sheet, serving

PASSWORD = "correct horse battery"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def readme_nginx_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the README has one nginx block"
    return blocks[0]


@contextlib.contextmanager
def nginx_in_front(app_port: int, folder: Path) -> Iterator[int]:
    """nginx running the README's server block, on a free port with a fresh self-signed certificate."""
    folder.mkdir()
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    port = free_port()
    block = (
        readme_nginx_block()
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("server_name batchupdate.example.edu.au;", "server_name localhost;")
        .replace("/etc/ssl/certs/batchupdate.pem", str(certificate))
        .replace("/etc/ssl/private/batchupdate.key", str(key))
        .replace("http://127.0.0.1:8080", f"http://127.0.0.1:{app_port}")
    )
    assert str(certificate) in block and f"127.0.0.1:{app_port}" in block, "the README's block changed shape"
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n access_log off;\n client_body_temp_path {folder}/body;\n proxy_temp_path {folder}/proxy;\n"
        f" fastcgi_temp_path {folder}/fastcgi;\n uwsgi_temp_path {folder}/uwsgi;\n scgi_temp_path {folder}/scgi;\n"
        f"{block}}}\n"
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"https://localhost:{port}/", verify=False, timeout=2)
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else "nginx stopped"
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_upload(client: httpx.Client, sheet: Path) -> httpx.Response:
    with sheet.open("rb") as handle:
        return client.post("/uploads", files={"sheet": (sheet.name, handle, "text/csv")}, data={"kind": ""})


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)")
@pytest.mark.parametrize("with_public_url", [True, False])
def test_behind_the_readme_nginx_block_the_public_url_is_served(
    sandbox: RunningSandbox, tmp_path: Path, with_public_url: bool
) -> None:
    sheet = mixed_unit_sheet(tmp_path / "term.csv")
    app_port = free_port()

    def app_for(public: str | None) -> ASGIApp:
        config = WebConfig(data_dir=tmp_path / "web-data", password=PASSWORD, public_url=public, rate="200")
        return create_app(config, connection_to(sandbox))

    with nginx_in_front(app_port, tmp_path / "nginx") as proxy_port:
        public = f"https://localhost:{proxy_port}"
        with serving(app_for(public if with_public_url else None), port=app_port), httpx.Client(
            base_url=public, verify=False, auth=("registrar", PASSWORD), headers={"origin": public},
            follow_redirects=True, timeout=30,
        ) as browser:
            home = browser.get("/")
            uploaded = post_upload(browser, sheet)
            listing = browser.get("/").text

    if with_public_url:
        assert home.status_code == 200 and 'id="upload-form"' in home.text
        assert uploaded.status_code == 200 and "Check: term.csv" in uploaded.text
        assert "registrar" in listing, "the job list names who uploaded it"
    else:  # the proxy's Host passes (nginx sends the public host name), but its origin is a stranger's
        assert home.status_code == 400 or uploaded.status_code == 403


def test_public_url_is_https_at_a_root_and_needs_a_password() -> None:
    assert public_address("https://BU.example.edu.au/") == "https://bu.example.edu.au"
    assert public_address("http://localhost:8443") == "http://localhost:8443"
    for wrong, words in [
        ("http://bu.example.edu.au", "unencrypted"),
        ("https://bu.example.edu.au/batchupdate", "root of its address"),
        ("bu.example.edu.au", "is not an address"),
    ]:
        with pytest.raises(InputError, match=words):
            public_address(wrong)
    with pytest.raises(InputError, match="set a password"):
        web_config("127.0.0.1", None, "PW", Path("d"), 10, "auto", 4, public_url="https://bu.example.edu.au")
    config = web_config("127.0.0.1", PASSWORD, "PW", Path("d"), 10, "auto", 4, public_url="https://bu.example.edu.au")
    assert config.public_url == "https://bu.example.edu.au"


def test_a_password_shorter_than_12_characters_is_refused(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(web_command_module, "serve", lambda config, *rest: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BATCHUPDATE_WEB_PASSWORD", "x")
    short = CliRunner().invoke(main, ["web", "--sandbox"])
    monkeypatch.setenv("BATCHUPDATE_WEB_PASSWORD", "twelve chars")
    enough = CliRunner().invoke(main, ["web", "--sandbox", "--public-url", "https://bu.example.edu.au"])

    assert short.exit_code == 2 and "has 1 characters; use at least 12" in short.output
    assert "Traceback" not in short.output
    assert enough.exit_code == 0, enough.output


def test_wrong_passwords_wait_longer_and_longer_per_client() -> None:
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(FREE_TRIES):
        assert throttle.wait("10.0.0.9") == 0
        throttle.failed("10.0.0.9")
    waits = []
    for _ in range(9):
        assert throttle.wait("10.0.0.9") == 0
        throttle.failed("10.0.0.9")
        waits.append(throttle.wait("10.0.0.9"))
        now[0] += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, LONGEST_WAIT, LONGEST_WAIT, LONGEST_WAIT]
    assert throttle.wait("10.0.0.10") == 0, "another client is not slowed"
    throttle.passed("10.0.0.9")
    assert throttle.wait("10.0.0.9") == 0


def test_the_served_page_slows_a_password_guesser_and_lets_the_right_password_in(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    now = [0.0]
    config = WebConfig(data_dir=tmp_path / "web-data", password=PASSWORD)
    app = create_app(config, connection_to(sandbox), throttle=Throttle(clock=lambda: now[0]))
    with serving(app) as url, httpx.Client(base_url=url) as client:
        answers = [client.get("/", auth=("x", f"guess {n}")).status_code for n in range(FREE_TRIES + 2)]
        locked_out_right = client.get("/", auth=("x", PASSWORD))
        now[0] += 2.0
        right = client.get("/", auth=("x", PASSWORD))
        bare = client.get("/")  # no password given at all: the browser's first request, not a wrong guess

    assert answers == [401] * (FREE_TRIES + 1) + [429]
    assert locked_out_right.status_code == 429 and "wait 1 s" in locked_out_right.text
    assert locked_out_right.headers["retry-after"] == "1"
    assert right.status_code == 200
    assert bare.status_code == 401


def test_a_forged_x_real_ip_does_not_dodge_the_throttle_without_a_proxy(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    now = [0.0]
    config = WebConfig(data_dir=tmp_path / "web-data", password=PASSWORD)  # no --public-url: no proxy to trust
    app = create_app(config, connection_to(sandbox), throttle=Throttle(clock=lambda: now[0]))
    with serving(app) as url, httpx.Client(base_url=url) as client:
        answers = [
            client.get("/", auth=("x", "guess"), headers={"x-real-ip": f"10.0.0.{n}"}).status_code
            for n in range(FREE_TRIES + 2)
        ]
    assert answers[-1] == 429
