"""A student's HTML made safe to show inside the app's own page, one fragment at a time (bleach).

A notebook's markdown may hold any HTML. What comes out is plain content: no script, style, form,
input, button or frame; no class, id or style attribute, so nothing from the student can take the
app's look (a fake "20 / 20 points", a link drawn as the Regrade button) or repeat an id the
page's script looks up; links only to http(s), mailto or a relative address, never data: or
javascript:; images only inline PNG/JPEG (`data:image/png|jpeg;base64,...`), so no image makes the
staff's browser fetch anything. Each fragment is parsed on its own: a tag it leaves open is closed
at its end, and cannot swallow what the page shows after it.
"""
from __future__ import annotations

import re
import threading

import bleach

TAGS = frozenset({"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5",
                  "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table",
                  "tbody", "td", "th", "thead", "tr", "ul"})
# bleach checks the scheme of href/src against these first; the checks below then narrow them
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_DATA = re.compile(r"data:image/(?:png|jpeg);base64,[a-z0-9+/=]*")   # on the normalized value
_NOISE = re.compile(r"[`\000-\040\177-\240\s]+|[^\x00-\x7f]")             # what browsers ignore in a URL


def _normalized(url: str) -> str:
    """The address as a browser reads it (bleach normalizes the same way before its scheme check)."""
    return _NOISE.sub("", url).lower()


def link_allowed(url: str) -> bool:
    """http(s), mailto, an anchor or a relative address: no data:, javascript: or other scheme."""
    url = _normalized(url)
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    return ":" not in head or url.startswith(LINK_SCHEMES)


def image_allowed(url: str) -> bool:
    return IMAGE_DATA.fullmatch(_normalized(url)) is not None


def _attribute(tag: str, name: str, value: str) -> bool:
    if tag == "a":
        return name == "title" or (name == "href" and link_allowed(value))
    if tag == "img":
        return name in ("alt", "title") or (name == "src" and image_allowed(value))
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan") and value.isdigit() and len(value) < 4
    return name == "title"


_local = threading.local()


def clean(fragment: str) -> str:
    """`fragment` with everything outside the allowlist dropped (a dropped tag's text is kept)."""
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:   # a Cleaner keeps parser state: one per thread, as bleach asks
        cleaner = _local.cleaner = bleach.Cleaner(tags=TAGS, attributes=_attribute, protocols=PROTOCOLS,
                                                  strip=True, strip_comments=True)
    return cleaner.clean(fragment)
