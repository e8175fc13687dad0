"""Response headers set for the whole site: cross-origin isolation, the Content-Security-Policy, the cache default."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost

from webapp.kdsam_studio import cache_policy

#: Cross-origin isolation (onnxruntime-web's WASM threads need it), and CORP for our own resources.
CROSS_ORIGIN_ISOLATION: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class CrossOriginIsolationMiddleware:
    """Adds :data:`CROSS_ORIGIN_ISOLATION` to every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in CROSS_ORIGIN_ISOLATION.items():
            response.headers.setdefault(name, value)
        return response


#: The Content-Security-Policy of every response (pages, API, static files: a worker's policy is its script's).
#: What the app needs: onnxruntime-web compiles WebAssembly ('wasm-unsafe-eval'; no eval, no inline script) and
#: runs its threads in module workers from /static/ (plus blob: workers it may spawn); the live feed's websocket
#: goes to the page's own host (added per request: 'self' covers ws/wss in current browsers, older Safari not);
#: canvases and downloads use blob: and data: images. Styles allow 'unsafe-inline' for three inline <style>
#: elements: the sign-in page's (webapp/templates/registration/login.html), the admin change list's and the one
#: the studio's job pages add (frontend/src/studio/pages/job-form.ts); no page has an inline script or handler.
CONTENT_SECURITY_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'", "'wasm-unsafe-eval'"),
    "worker-src": ("'self'", "blob:"),
    "connect-src": ("'self'",),
    "img-src": ("'self'", "blob:", "data:"),
    "style-src": ("'self'", "'unsafe-inline'"),
    "font-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}


def content_security_policy(request) -> str:
    directives = dict(CONTENT_SECURITY_POLICY)
    try:
        host = request.get_host()  # validated against ALLOWED_HOSTS
    except DisallowedHost:
        host = ""
    if host:
        directives["connect-src"] = (*directives["connect-src"], f"ws://{host}", f"wss://{host}")
    return "; ".join(" ".join((name, *sources)) for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Adds the Content-Security-Policy to every response, and ``private, no-store`` where a view set no
    Cache-Control (``webapp.kdsam_studio.cache_policy``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        cache_policy.apply_default(response)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
        return response
