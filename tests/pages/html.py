"""Reading the pages' HTML in tests: controls without labels, inline scripts."""

from __future__ import annotations

from html.parser import HTMLParser

UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.label_depth = 0
        self.inline_scripts = 0
        self.inline_handlers: list[str] = []
        self.inline_styles = 0

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.inline_handlers += [name for name in attributes if name.startswith("on")]
        if "style" in attributes:
            self.inline_styles += 1
        if tag == "script" and "src" not in attributes:
            self.inline_scripts += 1
        if tag == "style":
            self.inline_styles += 1
        if tag == "label":
            self.label_depth += 1
            if attributes.get("for"):
                self.label_for.add(attributes["for"])
        if tag in {"input", "select", "textarea"} and attributes.get("type", "") not in UNLABELLED_TYPES:
            self.controls.append({**attributes, "_wrapped": "yes" if self.label_depth else ""})

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1


def unlabelled_controls(html: str) -> list[str]:
    """Names of form controls that have neither a <label for=…> nor a wrapping <label>."""
    parser = _Controls()
    parser.feed(html)
    return [
        control.get("name", "?")
        for control in parser.controls
        if not control["_wrapped"] and control.get("id") not in parser.label_for
    ]


def inline_code(html: str) -> tuple[int, list[str], int]:
    """(inline <script> blocks, inline event handler attributes, inline styles) in `html`."""
    parser = _Controls()
    parser.feed(html)
    return parser.inline_scripts, parser.inline_handlers, parser.inline_styles
