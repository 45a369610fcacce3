"""Node to node over TLS on loopback: the self-signed certificate pinned, anything else refused.

A real node process serves HTTPS with its own certificate; A pins it and talks; a node
pinning another certificate cannot connect. (B refuses the search by policy, before any
model runs: this test is about the channel.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facetrail.errors import InvalidInputError
from facetrail.facade import Facetrail
from facetrail.security.tls import pinned_context, self_signed
from facetrail.services.federated_search import FederatedSearchRequest
from facetrail.services.federation_policy import policy_from
from facetrail.services.partners import PartnerRequest
from tests.federation_support import AUTH, make_node
from tests.milvus_server import free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def tls_pair(tmp_path: Path, faces_dir: Path) -> Iterator[tuple[Facetrail, str, str, Path]]:
    a, b = make_node(tmp_path, "A"), make_node(tmp_path, "B")
    info_a, info_b = a.node.show(), b.node.show()
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    b.partners.add(
        PartnerRequest(
            "A",
            "https://127.0.0.1:1",
            info_a.public_key,
            policy_from({"galleries": ["custody"], "max_candidates": 2}),
            info_a.tls_certificate,
        )
    )
    a.partners.add(
        PartnerRequest(
            "B",
            url,
            info_b.public_key,
            policy_from({"galleries": ["custody"]}),
            info_b.tls_certificate,
        )
    )
    b.close()
    env = {**os.environ, "PYTHONPATH": SRC}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facetrail",
            "--home",
            str(tmp_path / "B"),
            "federation",
            "serve",
            "--tls",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    context = pinned_context(info_b.tls_certificate.encode())
    for _ in range(150):
        try:
            httpx.get(url + "/federation/v1/node", verify=context, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    probe = next((faces_dir / "face_recognition" / "Barack_Obama").glob("*.jpg"))
    (tmp_path / "b-cert.pem").write_text(info_b.tls_certificate)
    (tmp_path / "b.pem").write_text(info_b.public_key)
    (tmp_path / "a.pem").write_text(info_a.public_key)
    (tmp_path / "a-cert.pem").write_text(info_a.tls_certificate)
    try:
        yield a, info_b.public_key, url, probe
    finally:
        process.terminate()
        process.wait(10)
        a.close()


def test_pinned_certificate_connects_and_signed_refusal_comes_back(tls_pair) -> None:
    a, _, url, probe = tls_pair
    authorisation = a.authorise(**AUTH, galleries=["custody"]).id
    result = a.federated.search(FederatedSearchRequest(probe, ("B",), authorisation, top=3))
    answer = result.partners[0]
    # Over TLS, signed both ways: B's refusal (3 asked, policy allows 2) is its own answer.
    assert answer.status == "refused" and "allows at most 2" in answer.reason
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/federation/v1/node", timeout=5)  # the system CAs do not know it


def test_another_certificate_is_refused(tls_pair) -> None:
    a, b_key, url, probe = tls_pair
    _, stranger = self_signed("B")  # same name, same hosts, another key: a man in the middle
    a.partners.remove("B")
    policy = policy_from({"galleries": ["custody"]})
    a.partners.add(PartnerRequest("B", url, b_key, policy, stranger.decode()))
    authorisation = a.authorise(**AUTH, galleries=["custody"]).id
    result = a.federated.search(FederatedSearchRequest(probe, ("B",), authorisation, top=2))
    answer = result.partners[0]
    assert answer.status == "error" and "unreachable" in answer.reason, answer


def test_https_partner_without_a_certificate_is_refused(tls_pair) -> None:
    a, b_key, url, _ = tls_pair
    with pytest.raises(InvalidInputError, match="--tls-certificate"):
        a.partners.add(PartnerRequest("B2", url, b_key, policy_from({"galleries": ["custody"]})))


def test_every_hop_over_tls_through_the_router(tls_pair, tmp_path: Path) -> None:
    """A -> router (router certificate pinned) -> B (B's certificate pinned), and back."""
    a, _, url, probe = tls_pair
    router_home = tmp_path / "router"
    env = {**os.environ, "PYTHONPATH": SRC}
    base = [sys.executable, "-m", "facetrail", "router"]
    for name, node_url, extra in (
        ("A", "https://127.0.0.1:1", ["--tls-certificate", str(tmp_path / "a-cert.pem")]),
        ("B", url, ["--tls-certificate", str(tmp_path / "b-cert.pem")]),
    ):
        key = tmp_path / f"{name.lower()}.pem"
        subprocess.run(
            [
                *base,
                "nodes",
                "add",
                name,
                "--home",
                str(router_home),
                "--url",
                node_url,
                "--public-key",
                str(key),
                *extra,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
    certificate = subprocess.run(
        [*base, "certificate", "--home", str(router_home)],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    port = free_port()
    router = subprocess.Popen(
        [*base, "serve", "--home", str(router_home), "--tls", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    router_url = f"https://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(router_url + "/router/v1/health", verify=pinned_context(certificate))
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        authorisation = a.authorise(**AUTH, galleries=["custody"]).id
        request = FederatedSearchRequest(
            probe,
            ("B",),
            authorisation,
            via_router=router_url,
            top=3,
            router_certificate=certificate,
        )
        answer = a.federated.search(request).partners[0]
        assert answer.status == "refused" and "allows at most 2" in answer.reason, answer
        with pytest.raises(InvalidInputError, match="--router-certificate"):
            a.federated.search(
                FederatedSearchRequest(probe, ("B",), authorisation, via_router=router_url)
            )
    finally:
        router.terminate()
        router.wait(10)
    log = (router_home / "router-log.jsonl").read_text()
    assert '"answer_status": "refused"' in log and '"to": "B"' in log
