"""Bad ``BVP_*`` settings as one line each: the variable, its value, what is expected.

pydantic reports ``serving.http_port`` and ``Input should be a valid integer`` in a
multi-line block (or, for unparsable JSON, only the group); a user set
``BVP_SERVING__HTTP_PORT``, so that is the name the message uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from ml.settings import Settings

__all__ = ["ENV_PREFIX", "describe_settings_error", "misspelled_settings"]

ENV_PREFIX = "BVP_"
_NESTED = "__"
_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
}
_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def describe_settings_error(
    exc: Exception, environ: Mapping[str, str]
) -> list[str] | None:
    """One line per bad setting, or None if ``exc`` is not about :class:`Settings`.

    Args:
        exc: What ``Settings()`` raised.
        environ: The environment it read (names match case-insensitively, as in
            pydantic-settings).

    Returns:
        Lines like ``BVP_SERVING__HTTP_PORT: got 'abc', expected an integer``.
    """
    env = {k.upper(): v for k, v in environ.items() if k.upper().startswith(ENV_PREFIX)}
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return [_line(err, env) for err in exc.errors(include_url=False)]
    if isinstance(exc, SettingsError):  # a complex value that is not valid JSON
        lines = [
            f"{name}: got {value!r}, expected {expected}"
            for name, value, expected in _bad_json(env)
        ]
        return lines or [str(exc)]
    return None


def misspelled_settings(environ: Mapping[str, str]) -> list[str]:
    """One line per ``BVP_*`` variable that misses a setting by a typo.

    pydantic-settings ignores an unknown top-level name (``BVP_HOEM``, or
    ``BVP_SERVNG__HTTP_PORT``): the prefix is shared with variables that are not
    settings (``BVP_KFP_HOST``, ``BVP_KSERVE_PYTHON``), so only a name close to a
    setting's (difflib ratio >= 0.75) is an error; the others stay allowed.
    """
    import difflib

    top = [f.upper() for f in Settings.model_fields]
    lines = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        head, sep, rest = name.upper()[len(ENV_PREFIX) :].partition(_NESTED)
        close = difflib.get_close_matches(head, top, n=1, cutoff=0.75)
        if head not in top and close:
            meant = f"{ENV_PREFIX}{close[0]}{sep}{rest}"
            lines.append(
                f"{name}: got {value!r}, an unknown setting; did you mean {meant}?"
            )
    return lines


def _line(err: Any, env: Mapping[str, str]) -> str:
    if err["type"] == "extra_forbidden":
        return _unknown(tuple(str(p) for p in err["loc"]), env, err["input"])
    path = _field_path(tuple(str(p) for p in err["loc"]))
    rest = [
        f"item {p + 1}" if isinstance(p, int) else str(p)
        for p in err["loc"][len(path) :]
    ]
    for cut in range(len(path), 0, -1):  # the variable the user set, e.g. BVP_SERVING
        name = _env_name(path[:cut])
        if name in env:
            inner = ".".join([*path[cut:], *rest])
            where = f" ({inner})" if inner else ""
            return f"{name}{where}: got {env[name]!r}, {_expected(err)}"
    where = f" ({'.'.join(rest)})" if rest else ""
    return f"{_env_name(path)}{where}: got {err['input']!r}, {_expected(err)}"


def _unknown(loc: tuple[str, ...], env: Mapping[str, str], value: Any) -> str:
    """``BVP_SERVING__HTTP_PROT: unknown setting; did you mean BVP_SERVING__HTTP_PORT?``"""
    import difflib

    group = _field_path(loc[:-1]) if len(loc) > 1 else ()
    model: Any = Settings
    for part in group:
        model = model.model_fields[part].annotation
    known = [_env_name((*group, f)) for f in model.model_fields]
    name = _env_name(loc)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
    return f"{name}: got {env.get(name, value)!r}, an unknown setting; {hint}"


def _expected(err: Any) -> str:
    """The rule, as ``expected ...``."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}"
    if kind == "literal_error":
        return f"expected one of {ctx['expected']}"
    if kind in _BOUNDS:
        return f"expected a number {_BOUNDS[kind]} {next(iter(ctx.values()))}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return msg.replace("Input should be ", "expected ", 1)


def _field_path(loc: tuple[str, ...]) -> tuple[str, ...]:
    """The longest prefix of ``loc`` that names a settings field."""
    model: type[BaseModel] | None = Settings
    path: list[str] = []
    for part in loc:
        if model is None or part not in model.model_fields:
            break
        path.append(part)
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return tuple(path) or loc[:1]


def _env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + _NESTED.join(path).upper()


def _bad_json(env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Set variables of list/tuple/dict/group fields whose value is not JSON."""
    out = []
    for path, expected in _complex_fields(Settings, ()):
        name = _env_name(path)
        if name not in env:
            continue
        try:
            json.loads(env[name])
        except ValueError:
            out.append((name, env[name], expected))
    return out


def _complex_fields(
    model: type[BaseModel], prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], str]]:
    """(path, what is expected) of every field pydantic-settings reads as JSON."""
    out: list[tuple[tuple[str, ...], str]] = []
    for name, info in model.model_fields.items():
        ann, path = info.annotation, (*prefix, name)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append((path, "a JSON object"))
            out += _complex_fields(ann, path)
        elif get_origin(ann) in (list, tuple, dict) or any(
            get_origin(a) in (list, tuple, dict) for a in get_args(ann)
        ):
            default = info.get_default(call_default_factory=True)
            example = list(default) if isinstance(default, tuple) else default
            out.append((path, f"JSON like {json.dumps(example)}"))
    return out
