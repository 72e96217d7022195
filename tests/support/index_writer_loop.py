"""Another process that changes the content and refreshes the index (a crawl's last step), for D-11.

Cycle ``n`` adds the page ``https://example.com/zebra`` (even ``n``) or retires it (odd ``n``), then refreshes
the index, which saves and publishes a new version; prints ``n`` after each.
Run: ``python -m tests.support.index_writer_loop CONFIG CYCLES``.
"""

from __future__ import annotations

import sys

from kb.knowledge_base import KnowledgeBase
from kb.settings import load_settings
from tests.support.index_pages import add_page, retire_page

URL = "https://example.com/zebra"
TEXT = "Zebra crossing onboarding blueprint for striped horses|Zebra migration checklist in the savanna"


def main(config: str, cycles: int) -> None:
    kb = KnowledgeBase(load_settings(config))
    for n in range(cycles):
        if n % 2 == 0:
            add_page(kb, URL, TEXT + f"|revision {n}")
        else:
            retire_page(kb, URL)
        report = kb.refresh_index(rebuild=n % 3 == 2)
        print(n, report.total, flush=True)
    kb.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
