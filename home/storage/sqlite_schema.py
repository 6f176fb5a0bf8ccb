"""Edits of a SQLite `CREATE TABLE` text, for the ALTER TABLE forms SQLite lacks.

SQLite keeps each table's schema as the text of its `CREATE TABLE` statement. Some edits of
that text leave every stored row valid, and SQLite documents how to make them
(https://sqlite.org/lang_altertable.html#otheralter): adding, changing or removing a column's
default, and removing a CHECK or NOT NULL constraint; adding a CHECK or NOT NULL is safe once
no stored row breaks it. These functions compute the new text; `sqlite_engine` writes it.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s*(?P<token>
        \( | \) | ,
      | '(?:[^']|'')*' | "(?:[^"]|"")*" | `(?:[^`]|``)*` | \[[^\]]*\]
      | [^\s(),'"`\[]+
    )""",
    re.VERBOSE,
)
_TABLE_CONSTRAINTS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}

Span = tuple[int, int]


def _tokens(sql: str, start: int, end: int) -> list[Span]:
    """Top-level tokens of sql[start:end]; a parenthesised group or a quoted text is one token."""
    tokens: list[Span] = []
    depth = 0
    group_start = start
    position = start
    while sql[position:end].strip():
        match = _TOKEN.match(sql, position, end)
        if match is None:
            raise ValueError(f"cannot read the SQL near {sql[position : position + 30]!r}")
        token_start, position = match.span("token")
        text = match["token"]
        if text == "(":
            if depth == 0:
                group_start = token_start
            depth += 1
        elif text == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' in {sql!r}")
            if depth == 0:
                tokens.append((group_start, position))
        elif depth == 0:
            tokens.append((token_start, position))
    if depth:
        raise ValueError(f"unbalanced '(' in {sql!r}")
    return tokens


def _name(sql: str, span: Span) -> str:
    """An identifier token without its quotes, upper-cased for comparison."""
    text = sql[span[0] : span[1]]
    if text[:1] in '"`[' and len(text) >= 2:
        text = text[1:-1]
    return text.upper()


def _definitions(sql: str) -> list[tuple[Span | None, list[Span]]]:
    """The column and constraint definitions of a CREATE TABLE: (comma before it, its tokens)."""
    body = next((span for span in _tokens(sql, 0, len(sql)) if sql[span[0]] == "("), None)
    if body is None:
        raise ValueError(f"not a CREATE TABLE statement: {sql!r}")
    definitions: list[tuple[Span | None, list[Span]]] = []
    comma: Span | None = None
    current: list[Span] = []
    for span in _tokens(sql, body[0] + 1, body[1] - 1):
        if sql[span[0] : span[1]] == ",":
            definitions.append((comma, current))
            comma, current = span, []
        else:
            current.append(span)
    definitions.append((comma, current))
    return [(comma, tokens) for comma, tokens in definitions if tokens]


def _is_column(sql: str, tokens: list[Span]) -> bool:
    first = sql[tokens[0][0] : tokens[0][1]]
    return first[:1] in '"`[' or first.upper() not in _TABLE_CONSTRAINTS


def drop_check(sql: str, name: str) -> str | None:
    """`sql` without the table constraint `CONSTRAINT name CHECK (...)`; None if it has none."""
    definitions = _definitions(sql)
    for index, (comma, tokens) in enumerate(definitions):
        if len(tokens) < 2 or _is_column(sql, tokens) or _name(sql, tokens[1]) != name.upper():
            continue
        if len(tokens) < 4 or _name(sql, tokens[2]) != "CHECK":
            # Dropping a UNIQUE or PRIMARY KEY constraint would orphan its index.
            raise ValueError(f"constraint {name} is not a CHECK constraint; SQLite cannot drop it")
        start, end = tokens[0][0], tokens[-1][1]
        if comma is not None:
            start = comma[0]
        elif index + 1 < len(definitions):
            following_comma = definitions[index + 1][0]
            assert following_comma is not None
            end = following_comma[1]
        return sql[:start] + sql[end:]
    return None


def _column(sql: str, column: str) -> tuple[list[Span], list[str]]:
    """The tokens of `column`'s definition and their upper-cased words."""
    for _, tokens in _definitions(sql):
        if _is_column(sql, tokens) and _name(sql, tokens[0]) == column.upper():
            return tokens, [_name(sql, span) for span in tokens]
    raise ValueError(f"no column {column} in {sql!r}")


def _default_value(tokens: list[Span], words: list[str], column: str, sql: str) -> tuple[int, int]:
    """Token indexes of `DEFAULT` and of the last token of its value."""
    index = words.index("DEFAULT", 1)
    if index + 1 >= len(tokens):
        raise ValueError(f"column {column} has a DEFAULT without a value: {sql!r}")
    value_end = index + 1
    # A signed number may be written with a space after its sign: DEFAULT - 1.
    if words[value_end] in ("+", "-") and value_end + 1 < len(tokens):
        value_end += 1
    return index, value_end


def set_default(sql: str, column: str, default: str) -> str:
    """`sql` with `column`'s DEFAULT clause replaced by (or, without one, given) `default`."""
    tokens, words = _column(sql, column)
    if "DEFAULT" not in words[1:]:
        end = tokens[-1][1]
        return f"{sql[:end]} DEFAULT {default}{sql[end:]}"
    index, value_end = _default_value(tokens, words, column, sql)
    start, end = tokens[index + 1][0], tokens[value_end][1]
    return sql[:start] + default + sql[end:]


def drop_default(sql: str, column: str) -> str:
    """`sql` without `column`'s DEFAULT clause (unchanged if it has none)."""
    tokens, words = _column(sql, column)
    if "DEFAULT" not in words[1:]:
        return sql
    index, value_end = _default_value(tokens, words, column, sql)
    start, end = tokens[index - 1][1], tokens[value_end][1]
    return sql[:start] + sql[end:]


def set_not_null(sql: str, column: str) -> str:
    """`sql` with a NOT NULL constraint on `column` (unchanged if it has one).

    Only safe when no stored row holds NULL there: the caller checks that first.
    """
    tokens, words = _column(sql, column)
    if any(words[i : i + 2] == ["NOT", "NULL"] for i in range(1, len(words) - 1)):
        return sql
    end = tokens[-1][1]
    return f"{sql[:end]} NOT NULL{sql[end:]}"


def drop_not_null(sql: str, column: str) -> str:
    """`sql` without `column`'s NOT NULL constraint (unchanged if it has none)."""
    tokens, words = _column(sql, column)
    for index in range(1, len(words) - 1):
        if words[index] == "NOT" and words[index + 1] == "NULL":
            start, end = tokens[index - 1][1], tokens[index + 1][1]
            return sql[:start] + sql[end:]
    return sql
