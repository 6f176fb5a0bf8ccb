"""The roster service: members and their activity periods, served as JSON and edited in an admin.

Each concern has one package: `roster` (the domain), `storage` (the engines), `api` (the HTTP
API), `admin` (Piccolo Admin), `web` (the ASGI wrappers every request passes) and `server`
(running it). `settings.py` reads the configuration; `piccolo_app.py` and `commands/` are
Piccolo's app and CLI tasks. `app.py` at the top assembles them.
"""
