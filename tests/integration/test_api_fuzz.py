"""Schemathesis fuzzes the HTTP API from its own OpenAPI document: no 5xx, no hang, and every
response matches the document (status codes, content types, schemas)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.room_service_process import RoomServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_schema(livekit_server, tmp_path_factory):
    service = RoomServiceProcess(
        livekit_server,
        tmp_path_factory.mktemp("fuzz") / "data",
        agent_name="bodyswap-fuzz",
        BODYSWAP_CREATE_RATE_PER_MINUTE="100000",
        BODYSWAP_JOIN_RATE_PER_MINUTE="100000",
        BODYSWAP_CAMERA_WAIT_S="2",
    )
    service.start()
    yield schemathesis.openapi.from_url(f"{service.url}/api/openapi.json")
    service.stop()


def test_api_conforms_to_its_openapi_document(api_schema):
    # Driven through hypothesis directly: schemathesis' pytest plugin does not support pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 22  # every route of the service
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(timeout=15)

        fuzz()
