"""The admin surface: the operators' API under /admin/api, and the dashboard at /admin.

`routes.py` is the Chalice Blueprint (registered by app.py), `auth.py` the bearer token,
`openapi.py` its part of the OpenAPI document, `static/` the dashboard's page, script and style.
"""
