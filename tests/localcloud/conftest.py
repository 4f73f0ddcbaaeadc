"""Fixtures for the local cloud's own tests.

``cloud`` is one LocalCloud for the session (port 0). moto's state is process-global, so each test
module builds its own role, functions and APIs (module-scoped ``kit``) with unique names, directly
through boto3 against ``cloud.endpoint_url``. ``moto_server`` is a bare moto server with the
fidelity fixes, for the tests that compare decorator and server mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localcloud_helpers import Kit
from moto.server import ThreadedMotoServer

from localcloud import LocalCloud, fidelity


@pytest.fixture(scope="session")
def cloud():
    with LocalCloud(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def kit(cloud: LocalCloud) -> Kit:
    return Kit(cloud)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    fidelity.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
