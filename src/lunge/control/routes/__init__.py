"""The routers: thin (parse, call one service, shape the answer). Every route under ``/v1``
depends on a token; ``tests/control/test_security.py`` walks the OpenAPI document to prove it."""
