"""The web edge: ASGI wrappers every request passes, outside any route (404s and the admin
included): access log, security headers, request limits and the host check, with their shared
HTTP helpers in `http.py`."""
