"""Reading a large JSON document one top-level item at a time, so that memory stays bounded.

Owns one narrow job: a document `{"key": value, ..., "list_key": [item, item, ...]}` arrives as
text chunks; `stream_document` yields each top-level (key, value) pair, except that the items of
the one big list are yielded one by one as they are decoded, never held together. A single item
larger than `max_item_chars` is refused rather than read whole. Integers longer than 40 digits are
decoded as infinity (which every reader refuses as "not a finite number") instead of raising
Python's digit-limit error or building huge numbers.

Pure: the caller opens the file and passes an iterator of text chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_ITEM_CHARS = 64 * 1024 * 1024  # one patient of a timeline file: far above any real one
_WHITESPACE = " \t\n\r"
_LOOKAHEAD = 128


def _bounded_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= 40 else float("inf")


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


class JsonStreamError(ValueError):
    """The text is not the JSON document expected; the message says where (line and column when
    known) and what was wrong."""


@dataclass(frozen=True)
class Field:
    key: str
    value: Any


@dataclass(frozen=True)
class Item:
    key: str  # the list it belongs to
    index: int
    value: Any


@dataclass(frozen=True)
class NotAList:
    """The list key held something else (given whole: it is small, or it was refused as too large)."""

    key: str
    value: Any


class _Reader:
    def __init__(self, chunks: Iterable[str], chunk_chars: int) -> None:
        self._chunks = iter(chunks)
        self._chunk_chars = chunk_chars
        self.buf = ""
        self.pos = 0
        self.lines_before = 0  # newlines in what was dropped, for error positions
        self.column_before = 0  # characters after the last dropped newline
        self.eof = False

    def fill(self) -> bool:
        """Read at least as much again as the buffer holds (so a large item costs linear time)."""
        if self.eof:
            return False
        dropped = self.buf[: self.pos]
        self.lines_before += dropped.count("\n")
        self.column_before = len(dropped) - dropped.rfind("\n") - 1 if "\n" in dropped else self.column_before + len(dropped)
        self.buf = self.buf[self.pos:]
        self.pos = 0
        wanted = max(self._chunk_chars, len(self.buf))
        got = 0
        parts = [self.buf]
        while got < wanted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.eof = True
                break
            parts.append(chunk)
            got += len(chunk)
        self.buf = "".join(parts)
        return got > 0

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        ch = self.peek()
        if not ch or ch not in chars:
            raise self.error(what)
        self.pos += 1
        return ch

    def value(self, max_chars: int) -> Any:
        """Decode one complete JSON value at the current position."""
        self.peek()
        # a number cut at the end of the buffer would decode as a shorter one ("0" of "0.5"): keep a
        # look-ahead longer than any number worth reading (a longer one is refused either way)
        while len(self.buf) - self.pos < _LOOKAHEAD and self.fill():
            pass
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > max_chars:
                    raise JsonStreamError(f"an item is larger than {max_chars // (1024 * 1024)} MB") from None
                if self.fill():
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except RecursionError:
                raise JsonStreamError("the file is nested too deeply") from None
            if end == len(self.buf) and not self.eof and self.fill():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value

    def error(self, what: str, pos: int | None = None) -> JsonStreamError:
        pos = self.pos if pos is None else pos
        before = self.buf[:pos]
        line = self.lines_before + before.count("\n") + 1
        column = pos - before.rfind("\n") if "\n" in before else self.column_before + pos + 1
        return JsonStreamError(f"{what} at line {line}, column {column}")


def stream_document(chunks: Iterable[str], list_key: str, *, chunk_chars: int = 1 << 20,
                    max_item_chars: int = MAX_ITEM_CHARS) -> Iterator[Field | Item | NotAList]:
    """Yield the top-level fields of a JSON object, and the items of `list_key` one at a time.

    Raises JsonStreamError (a ValueError) when the text is not a JSON object, or is cut short.
    """
    r = _Reader(chunks, chunk_chars)
    r.expect("{", "Expecting '{' (the file must hold a JSON object)")
    if r.peek() == "}":
        r.pos += 1
    else:
        while True:
            key = r.value(max_item_chars) if r.peek() == '"' else None
            if not isinstance(key, str):
                raise r.error("Expecting a property name in double quotes")
            r.expect(":", "Expecting ':' delimiter")
            if key == list_key and r.peek() == "[":
                r.pos += 1
                index = 0
                if r.peek() == "]":
                    r.pos += 1
                else:
                    while True:
                        yield Item(key, index, r.value(max_item_chars))
                        index += 1
                        if r.expect(",]", "Expecting ',' delimiter") == "]":
                            break
            elif key == list_key:
                yield NotAList(key, r.value(max_item_chars))
            else:
                yield Field(key, r.value(max_item_chars))
            if r.expect(",}", "Expecting ',' delimiter") == "}":
                break
    if r.peek():
        raise r.error("Extra data")
