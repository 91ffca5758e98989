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
    (``**Action:**``, ``## Thought:``). A label given twice keeps its last value. A label line
    inside a fenced code block, or inside a JSON value that is still open (a code comment
    ``# Action: ...`` in the code an Action Input carries), is text, not a label.
    """
    ordered = sorted(labels, key=len, reverse=True)  # "Action Input" before "Action"
    pattern = re.compile(
        r"^[ \t>#*_]*(" + "|".join(re.escape(label) for label in ordered) + r")[ \t*_]*:[ \t*_]*",
        re.IGNORECASE | re.MULTILINE,
    )
    canonical = {label.lower(): label for label in labels}
    kept: list[re.Match[str]] = []
    for match in pattern.finditer(text):
        if kept and _inside_value(text[kept[-1].end() : match.start()]):
            continue
        kept.append(match)
    found: dict[str, str] = {}
    for i, match in enumerate(kept):
        end = kept[i + 1].start() if i + 1 < len(kept) else len(text)
        found[canonical[match.group(1).lower()]] = text[match.end() : end].strip()
    return found


_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)


def _inside_value(value: str) -> bool:
    """Whether a label found right after ``value`` would sit inside it: in an unclosed code
    fence, or in a JSON object or string that ``value`` opened and has not closed."""
    if len(_FENCE.findall(value)) % 2:
        return True
    body = value.lstrip()
    if not body.startswith("{"):
        return False
    depth, in_string, escaped = 0, False, False
    for ch in body:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False
    return depth > 0 or in_string


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


_BLOCK = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.M | re.S)
_TAGS = {"python": ("python", "python3", "py")}


def extract_code(reply: str, language: str = "python") -> str:
    """The code in a model's reply to an edit request.

    A reply with fenced blocks gives the longest block tagged with ``language`` (``python``,
    ``py``...), else the longest untagged one, else the longest of any tag; prose around the
    fences is dropped, and a fence the reply never closed (cut at its token limit) runs to its
    end. A reply without a fence is taken whole. The result ends with one line break.
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _BLOCK.finditer(reply)]
    if not blocks:
        code = reply.strip("\n")
    else:
        tags = _TAGS.get(language, (language,))
        for wanted in (lambda t: t in tags, lambda t: t == "", lambda t: True):
            chosen = [body for tag, body in blocks if wanted(tag)]
            if chosen:
                code = max(chosen, key=len).strip("\n")
                break
    return code + "\n" if code.strip() else ""


def excerpt(text: str, max_chars: int = 2000) -> str:
    """``text`` if short, else its first ``max_chars`` characters and a note of how much more."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... {len(text) - max_chars} more characters not shown ...]"
