"""URL converters: ``<int:...>`` ids bounded to what the database can hold.

Werkzeug's ``int`` accepts any length of digits; an id past 2**63 - 1 then overflows in the database
driver (a 500). Bounded here once, such a URL simply matches no route: a 404 like any unknown id.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
