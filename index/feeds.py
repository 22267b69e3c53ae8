"""RSS and Atom feeds: their items, and the articles on the pages they link to."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import feedparser

from index.articles import Article, IngestError, parse_html, printable
from index.web import Fetched

FEED_SUFFIXES = (".xml", ".rss", ".atom")
MIN_WORDS = 8  # fewer words of main text is no article


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed: the page it links to, with the feed's title and date for it."""

    link: str
    title: str
    date: str | None


def parse_feed(data: bytes) -> list[FeedItem] | None:
    """The items of an RSS or Atom feed, in feed order; ``None`` when ``data`` is not a feed.

    Items without a link are left out: there is no page to read.
    """
    parsed = feedparser.parse(data)  # parsing bytes fetches nothing
    if not parsed.get("version"):
        return None
    items = []
    for entry in parsed.entries:
        link = (entry.get("link") or "").strip()
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(FeedItem(link, printable(entry.get("title") or "").strip(),
                              time.strftime("%Y-%m-%d", stamp) if stamp else None))
    return items


def page_article(page: Fetched, item: FeedItem | None = None) -> Article:
    """The article of a fetched web page; a feed item's title and date fill in what the page lacks.

    Raises:
        IngestError: The page is not HTML or holds no article text.
    """
    if page.content_type and "html" not in page.content_type and "xml" not in page.content_type:
        raise IngestError(f"not a web page or feed ({page.content_type})")
    article = parse_html(page.content, page.url)
    if len(article.text.split()) < MIN_WORDS:  # a menu or a cookie notice, not an article
        raise IngestError("no article text found on the page")
    if item is not None:
        if item.date and not article.date:
            article = replace(article, date=item.date)
        if item.title and not _titled(article):
            article = replace(article, title=item.title)
    return article


def _titled(article: Article) -> bool:
    """Whether the article's title is a headline rather than the start of its text."""
    return not article.text.startswith(article.title.rstrip("…"))
