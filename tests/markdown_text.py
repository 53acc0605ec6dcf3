"""What an AppTest element's Markdown turns into on screen, for tests about user text.

Streamlit renders ``st.markdown``, captions, alerts (``st.error``…), widget
labels and image captions as GitHub-flavoured Markdown, and ``st.html`` as
HTML. AppTest hands back the source; these helpers say what a reader sees:

* :func:`shown` — the text with Markdown's backslash escapes resolved (how
  ``app.widgets.md_literal`` text reads on screen);
* :func:`rendered` — CommonMark rendering (markdown-it-py, raw HTML escaped as
  Streamlit does without ``unsafe_allow_html``), plus GFM's bare-URL autolinks,
  which CommonMark lacks, found in the source;
* :func:`markdown_sources` / :func:`html_sources` — every Markdown and HTML
  source on a page, from the whole element tree (sidebar, tabs, columns,
  expanders, widget labels and image captions included).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
# GFM extended autolinks: www., http(s)://, and e-mail addresses, each in the Markdown source
_AUTOLINK = re.compile(r"(?<![\\\w])(?:www\.|https?://)|[\w.+-]+@[\w-]+\.[\w.-]*\w")
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)  # no autolink inside one


def shown(md: str) -> str:
    """``md`` as a reader sees it where it is plain text: backslash escapes resolved."""
    return _ESCAPED.sub(r"\1", md)


def rendered(md: str) -> str:
    """``md`` as HTML, with a bare URL GFM would turn into a link shown as ``<a autolink>``."""
    out = _MD.render(md)
    if _AUTOLINK.search(_CODE_SPAN.sub("", md)):
        out += "<a autolink>"
    return out


def _walk(node):
    yield node
    children = getattr(node, "children", None) or {}
    for child in children.values():
        yield from _walk(child)


def markdown_sources(at) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown."""
    out = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = getattr(node, "type", "")
        if kind in ("markdown", "alert", "error", "warning", "info", "success", "caption", "exception") \
                and hasattr(proto, "body"):
            out.append(proto.body)
        for field in ("label", "help", "caption"):
            value = getattr(proto, field, None)
            if isinstance(value, str) and value:
                out.append(value)
        for img in getattr(proto, "imgs", ()) or ():  # st.image captions
            if img.caption:
                out.append(img.caption)
    return out


def html_sources(at) -> list[str]:
    """The body of every ``st.html`` element on the page."""
    return [h.proto.body for h in at.html]
