"""The dashboard's routers: thin (session in, one or two service calls, a page out), left out of
the OpenAPI document (``include_in_schema=False``): the document describes the ``/v1`` API only."""
