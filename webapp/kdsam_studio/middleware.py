"""Cross-origin isolation, so onnxruntime-web can use WASM threads (SharedArrayBuffer)."""

from __future__ import annotations


class CrossOriginIsolationMiddleware:
    """Adds COOP/COEP (and CORP for our own resources) to every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
