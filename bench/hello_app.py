"""The baseline of the API benchmark: a bare FastAPI app, served with the same uvicorn settings as the API.

    python -m uvicorn bench.hello_app:app
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict:
    return {"hello": "world"}
