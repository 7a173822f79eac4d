"""How the OpenAPI schema describes the application-client authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "Application clients send `Authorization: Api-Key <key>` and `X-On-Behalf-Of: <username>`. "
                "They may only use the scopes granted to them in admin and can never approve or sign."
            ),
        }


MAX_ID = 2**63 - 1
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_GENERIC_ERRORS = {
    "400": "The request is invalid (the body or a parameter).",
    "401": "Not authenticated.",
    "403": "Not allowed for you, or for this application's scopes.",
    "404": "Not found, or not visible to you.",
    "429": "Too many requests.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the errors any v1 operation can answer.

    Authentication, permissions and throttling apply to every endpoint, bad input to any body or query,
    and a missing object to any path with an id; views document their specific errors themselves, and
    those are kept as they are.
    """
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    # Database ids: the URL pattern only matches digits, and ids are 64-bit.
                    schema.setdefault("minimum", 1)
                    schema.setdefault("maximum", MAX_ID)
            codes = ["401", "403", "429"]
            has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if method in ("post", "put", "patch") or has_query:
                codes.append("400")
            if "{" in path:
                codes.append("404")
            for code in codes:
                operation["responses"].setdefault(
                    code,
                    {
                        "description": _GENERIC_ERRORS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
