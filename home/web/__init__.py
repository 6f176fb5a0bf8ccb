"""The web edge: the one ASGI wrapper every request passes, outside any route (404s and the admin
included), in `edge.py`; it composes the request limits, the host check, the security headers
and the access log, a module each, with their shared HTTP helpers in `http.py`."""
