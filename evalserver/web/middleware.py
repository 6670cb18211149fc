"""A strict Content-Security-Policy for every response (Django 5.2 has none built in).

Everything the pages need is served by us (vendored CSS and JS, no inline script or
style), so the policy can be 'self' only: an injected <script> or a stolen-form target
has nowhere to go.
"""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Pages left to the browser's default policy. None: the OpenAPI docs page serves Swagger UI
# from our static files with no inline script or style (evalserver/templates/api_docs.html).
CSP_EXEMPT_URL_NAMES: frozenset[str] = frozenset()


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name in CSP_EXEMPT_URL_NAMES:
            return response
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
