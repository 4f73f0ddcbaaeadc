"""Fixtures for the local cloud's own tests.

``cloud`` is one LocalCloud for the session (port 0). moto's state is process-global, so each test
module builds its own role, functions and APIs (module-scoped ``kit``) with unique names, directly
through boto3 against ``cloud.endpoint_url``.
"""

from __future__ import annotations

import pytest
from localcloud_helpers import Kit

from localcloud import LocalCloud


@pytest.fixture(scope="session")
def cloud():
    with LocalCloud(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def kit(cloud: LocalCloud) -> Kit:
    return Kit(cloud)
