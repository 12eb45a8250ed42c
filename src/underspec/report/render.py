"""The one Jinja environment of underspec's HTML pages (audit, evaluation, selection, solve,
labeling page): templates in ``report/templates/``, HTML autoescaped."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def environment() -> jinja2.Environment:
    """The shared environment (built once)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("underspec", "report/templates"),
                              autoescape=jinja2.select_autoescape(["html"]))


def render(template: str, **context) -> str:
    """``template`` (a file name in ``report/templates/``) filled with ``context``."""
    return environment().get_template(template).render(**context)
