"""Keyset pages walked to the end: each page's next_cursor is passed back until there is none."""

from collections.abc import Callable, Iterator
from typing import Any


def walk(fetch_page: Callable[..., Any], **params) -> Iterator[Any]:
    """Every item of every page `fetch_page(cursor=..., **params)` returns, first page first (a page has
    `data` and `next_cursor`). Items added meanwhile at the newest end are not revisited."""
    cursor = None
    while True:
        page = fetch_page(cursor=cursor, **params)
        yield from page.data
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
