"""Long texts for a model's context: cut into chunks, summarised, merged."""

from __future__ import annotations

from collections.abc import Callable


def split_chunks(text: str, max_chars: int) -> list[str]:
    """``text`` in pieces of at most ``max_chars``, cut at line ends where a line allows it."""
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > max_chars:  # a single huge line: cut it hard
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:max_chars])
            line = line[max_chars:]
        if len(current) + len(line) > max_chars:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return chunks


def summarise_long(
    text: str,
    ask: Callable[[str], str],
    merge: Callable[[list[str]], str],
    max_chars: int,
) -> str:
    """``ask`` each chunk of ``text``; with more than one chunk, ``merge`` their answers."""
    parts = [ask(chunk) for chunk in split_chunks(text, max_chars)]
    return parts[0] if len(parts) == 1 else merge(parts)


def head_and_tail(
    text: str, max_chars: int, marker: str = "\n[... {n} characters cut ...]\n"
) -> str:
    """``text`` if short enough, else its beginning and end with a note of what was cut."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    cut = len(text) - 2 * half
    return text[:half] + marker.format(n=cut) + text[-half:]
