"""Reading an agent's reply: labelled entries ("Action: ...") and a JSON action input."""

from __future__ import annotations

import json
import re
from typing import Any


class ReplyFormatError(ValueError):
    """A reply that does not follow the requested format; the message says what is wrong."""


def entries(text: str, labels: tuple[str, ...]) -> dict[str, str]:
    """The labelled entries of a reply: ``Label: value`` up to the next label.

    Labels are matched at the start of a line, ignoring case and markdown decoration
    (``**Action:**``, ``## Thought:``). A label given twice keeps its last value.
    """
    ordered = sorted(labels, key=len, reverse=True)  # "Action Input" before "Action"
    pattern = re.compile(
        r"^[ \t>#*_]*(" + "|".join(re.escape(label) for label in ordered) + r")[ \t*_]*:[ \t*_]*",
        re.IGNORECASE | re.MULTILINE,
    )
    canonical = {label.lower(): label for label in labels}
    found: dict[str, str] = {}
    matches = list(pattern.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        found[canonical[match.group(1).lower()]] = text[match.end() : end].strip()
    return found


def strip_fences(text: str) -> str:
    """Text without a surrounding markdown code fence (```json ... ```)."""
    text = text.strip()
    if text.startswith("```"):
        first_newline = text.find("\n")
        text = text[first_newline + 1 :] if first_newline >= 0 else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def json_object(text: str) -> dict[str, Any]:
    """The JSON object in an action input (code fences and text around it ignored).

    Raw line breaks inside strings are accepted: models often write them in code they pass.
    """
    body = strip_fences(text)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ReplyFormatError("the Action Input is not a JSON object (no {...} found)")
    try:
        value = json.loads(body[start : end + 1], strict=False)
    except json.JSONDecodeError as exc:
        raise ReplyFormatError(f"the Action Input is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ReplyFormatError("the Action Input must be a JSON object")
    return value


def action_name(text: str) -> str:
    """An action name as written, without quotes, backticks or a trailing full stop."""
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line.strip().strip("`'\"*").rstrip(".").strip()


def duration(seconds: float) -> str:
    """``3 h 05 min``, ``12 min``, ``less than a minute``."""
    minutes = int(max(seconds, 0) // 60)
    if minutes == 0:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
