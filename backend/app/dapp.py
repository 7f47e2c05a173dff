"""The reference dApp (clients/dapp, built by `make up`) served at /app/ from its build output, gzipped
(the API's own JSON answers are not: they are small, and the hot ones are latency-bound)."""

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

PREFIX = "/app"


def mount_dapp(app: FastAPI, build: Path) -> None:
    if (build / "index.html").is_file():
        app.mount(PREFIX, GZipMiddleware(StaticFiles(directory=build, html=True), minimum_size=1024), name="dapp")
        return

    @app.get(PREFIX + "/{path:path}", include_in_schema=False)
    async def not_built(path: str):
        raise HTTPException(404, f"the dApp is not built ({build} has no index.html): `make up` builds it, or run "
                                 "`npm run build -w clients/ts && npm run build -w clients/dapp`")
