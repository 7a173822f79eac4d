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
