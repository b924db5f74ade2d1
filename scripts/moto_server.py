"""moto's server on a loopback port, able to take what `chalice deploy` sends it.

Usage: python scripts/moto_server.py PORT

moto's API Gateway imports only OpenAPI 3 documents that have an info.description, while
chalice sends a Swagger 2.0 document without one. Both are the same as far as moto reads them
(paths, methods, integrations), so the document is relabelled before moto reads it. Real API
Gateway takes chalice's document as it is.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.apigateway import models
from moto.server import main

_import_rest_api = models.APIGatewayBackend.import_rest_api
_put_rest_api = models.APIGatewayBackend.put_rest_api


def _as_moto_reads_it(document: dict[str, Any]) -> dict[str, Any]:
    if document.pop("swagger", None):
        document["openapi"] = "3.0.1"
    document.setdefault("info", {}).setdefault("description", "")
    return document


def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
    return _import_rest_api(self, _as_moto_reads_it(api_doc), fail_on_warnings)


def put_rest_api(
    self: Any,
    function_id: str,
    api_doc: dict[str, Any],
    fail_on_warnings: bool,
    mode: str = "merge",
) -> Any:
    return _put_rest_api(self, function_id, _as_moto_reads_it(api_doc), fail_on_warnings, mode)


if __name__ == "__main__":
    models.APIGatewayBackend.import_rest_api = import_rest_api  # type: ignore[method-assign]
    models.APIGatewayBackend.put_rest_api = put_rest_api  # type: ignore[method-assign]
    main(["--host", "127.0.0.1", "--port", sys.argv[1]])
