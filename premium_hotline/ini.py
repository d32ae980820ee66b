"""Asterisk-style INI files, read with the line of every key.

Administrators know Asterisk's config syntax, so the plugin uses it: `;` comments, `key = value`
or `key => value`, `[section](!)` templates, `[section](tmpl,...)` inheritance, `[section](+)` to
add to an earlier section, and `#include`. Python's configparser knows none of that and forgets
line numbers, and a config error must name its file and line.
"""

from __future__ import annotations

import os


class ConfigError(Exception):
    """One problem in one place: printed as `file:line: key: problem`."""

    def __init__(self, path: str, line: int, key: str, problem: str) -> None:
        super().__init__(f"{path}:{line}: {key}: {problem}")
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem


#: The key of the error that says a file could not be read at all (line 0).
UNREADABLE = "file"


class Value:
    """A value with where it was written, so a later check can still point at its line."""

    __slots__ = ("line", "path", "text")

    def __init__(self, text: str, path: str, line: int) -> None:
        self.text = text
        self.path = path
        self.line = line

    def __repr__(self) -> str:
        return f"Value({self.text!r} @ {self.path}:{self.line})"


class Section:
    __slots__ = ("is_template", "line", "name", "path", "values")

    def __init__(self, name: str, path: str, line: int, is_template: bool) -> None:
        self.name = name
        self.path = path
        self.line = line
        self.values: dict[str, Value] = {}
        self.is_template = is_template


def _strip_comment(line: str) -> str:
    """Drop a `;` comment, keeping `\\;` as a literal semicolon as Asterisk does."""
    out = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def _first_word(line: str) -> str:
    """What names a line that is not `key = value`: its first word, never its value (a secret
    typed as `password: s3cret` must not reach the error message)."""
    words = line.replace(":", " ").split(None, 1)
    return words[0][:40] if words else "(line)"


def parse_ini(path: str, errors: list[ConfigError]) -> list[Section]:
    """Read `path` into sections, appending every problem to `errors` instead of stopping.

    One bad line must not hide the rest of the file: the administrator gets the whole list.
    A missing or unreadable file is an error at line 0.
    """
    sections: list[Section] = []
    _parse_file(path, errors, sections, seen=set())
    return _resolve_templates(sections, errors)


def _parse_file(path: str, errors: list[ConfigError], sections: list[Section], seen: set[str]) -> None:
    real = os.path.realpath(path)
    if real in seen:
        errors.append(ConfigError(path, 0, "#include", "includes itself"))
        return
    seen.add(real)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        errors.append(ConfigError(path, 0, UNREADABLE, exc.strerror or str(exc)))
        return
    current: Section | None = sections[-1] if sections else None
    in_broken = False  # keys under a header that was refused: that one error covers them
    in_block_comment = False
    for number, raw in enumerate(lines, start=1):
        if in_block_comment:
            if "--;" in raw:
                in_block_comment = False
                raw = raw.split("--;", 1)[1]
            else:
                continue
        if ";--" in raw:
            head, _, tail = raw.partition(";--")
            if "--;" in tail:
                raw = head + tail.split("--;", 1)[1]
            else:
                raw = head
                in_block_comment = True
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("#"):
            directive, _, argument = line.partition(" ")
            argument = argument.strip().strip('"<>')
            if directive == "#include" and argument:
                target = os.path.join(os.path.dirname(path), argument)
                _parse_file(target, errors, sections, seen)
                current = sections[-1] if sections else None
            else:
                errors.append(ConfigError(path, number, directive, "only #include is supported"))
            continue
        if line.startswith("["):
            before = len(errors)
            current = _section_header(line, path, number, sections, errors)
            in_broken = current is None and len(errors) > before
            continue
        key, sep, value = line.partition("=")
        if not sep:
            # Only the line's first word: the rest may be a secret typed with ':' for '='.
            errors.append(ConfigError(path, number, _first_word(line), "expected key = value"))
            continue
        value = value[1:] if value.startswith(">") else value  # `key => value`
        key = key.strip().lower()
        if current is None:
            if in_broken:
                continue
            errors.append(ConfigError(path, number, key, "is outside any [section]"))
            continue
        if not key:
            errors.append(ConfigError(path, number, "(empty)", "a key name is missing before '='"))
            continue
        if key in current.values:
            first = current.values[key]
            errors.append(
                ConfigError(path, number, key, f"set twice in [{current.name}] (first at line {first.line})")
            )
            continue
        current.values[key] = Value(value.strip(), path, number)


def _section_header(
    line: str, path: str, number: int, sections: list[Section], errors: list[ConfigError]
) -> Section | None:
    close = line.find("]")
    if close < 0:
        errors.append(ConfigError(path, number, line[:40], "section header without ']'"))
        return None
    name = line[1:close].strip()
    options = line[close + 1 :].strip()
    is_template = False
    bases: list[str] = []
    append = False
    if options:
        if not (options.startswith("(") and options.endswith(")")):
            errors.append(ConfigError(path, number, f"[{name}]", f"unexpected {options!r} after ']'"))
            return None
        for option in options[1:-1].split(","):
            option = option.strip()
            if option == "!":
                is_template = True
            elif option == "+":
                append = True
            elif option:
                bases.append(option)
    if not name:
        errors.append(ConfigError(path, number, "[]", "section name is empty"))
        return None
    if append:
        for section in sections:
            if section.name == name:
                return section
        errors.append(ConfigError(path, number, f"[{name}]", "(+) adds to a section not defined before"))
        return None
    for section in sections:
        if section.name == name and not section.is_template:
            errors.append(
                ConfigError(
                    path, number, f"[{name}]", f"defined twice (first at {section.path}:{section.line})"
                )
            )
    section = Section(name, path, number, is_template)
    # Remember bases in a private key resolved below; templates are copied in order, own keys win.
    section.values["\0bases"] = Value(",".join(bases), path, number)
    sections.append(section)
    return section


def _resolve_templates(sections: list[Section], errors: list[ConfigError]) -> list[Section]:
    by_name: dict[str, Section] = {}
    for section in sections:
        by_name.setdefault(section.name, section)
    resolved: list[Section] = []
    for section in sections:
        bases_value = section.values.pop("\0bases", None)
        merged: dict[str, Value] = {}
        if bases_value is not None and bases_value.text:
            for base_name in bases_value.text.split(","):
                base = by_name.get(base_name)
                if base is None or base is section:
                    errors.append(
                        ConfigError(
                            section.path,
                            section.line,
                            f"[{section.name}]",
                            f"template {base_name!r} is not defined",
                        )
                    )
                    continue
                merged.update({k: v for k, v in base.values.items() if not k.startswith("\0")})
        merged.update(section.values)
        section.values = merged
        if not section.is_template:
            resolved.append(section)
    return resolved
