"""The stack's API serves the reference dApp's build at /app/ (built by `make up`), compressed."""

import re


def test_the_dapp_is_served_at_app_with_its_scripts_gzipped(api):
    assert api.get("/app", follow_redirects=False).headers["location"].endswith("/app/")
    page = api.get("/app/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'<script[^>]+src="(/app/[^"]+\.js)"', page.text)
    assert scripts, page.text
    for script in scripts:
        compressed = api.get(script, headers={"Accept-Encoding": "gzip"})
        assert compressed.status_code == 200 and compressed.headers["content-encoding"] == "gzip"
        assert compressed.num_bytes_downloaded < len(compressed.content) / 2  # on the wire vs inflated by httpx
    assert api.get("/app/no-such-file.js").status_code == 404
