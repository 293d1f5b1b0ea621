"""The operator's console at /admin/: Piccolo Admin over Clarion's tables, with Clarion's rules.

An ASGI app of its own (FastAPI, under Piccolo Admin), mounted by `clarion.http.app`
when `[admin] enabled = true`. It does not import Litestar.
"""
