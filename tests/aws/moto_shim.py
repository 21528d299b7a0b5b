"""Test-only emulation of SageMaker UpdateEndpoint for moto (which answers HTTP 500).

``emulate_update_endpoint(client)`` registers a botocore ``before-call`` handler on one
boto3 client: the UpdateEndpoint request the product code sends (real parameters,
real serialisation) is recorded and applied to moto's in-process backend by
re-pointing the endpoint at the requested config, as the real call does once the new
fleet is InService. Product code never sees this module.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends


def _error(message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("", 400, {}, None), {
        "Error": {"Code": "ValidationException", "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


def emulate_update_endpoint(client: Any) -> list[dict[str, Any]]:
    """Install the shim on ``client``; returns the list the requests are appended to."""
    calls: list[dict[str, Any]] = []
    region = client.meta.region_name

    def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        req = json.loads(params["body"])
        calls.append(req)
        backend = sagemaker_backends[DEFAULT_ACCOUNT_ID][region]
        endpoint = backend.endpoints.get(req["EndpointName"])
        config = backend.endpoint_configs.get(req["EndpointConfigName"])
        if endpoint is None or config is None:
            return _error(f"Could not find endpoint or config in {req}")
        if endpoint.endpoint_status != "InService":
            return _error(f"Cannot update in-progress endpoint {req['EndpointName']}")
        endpoint.endpoint_config_name = config.endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config.production_variants
        )
        return AWSResponse("", 200, {}, None), {
            "EndpointArn": endpoint.arn,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    client.meta.events.register("before-call.sagemaker.UpdateEndpoint", handler)
    return calls
