"""One way to declare settings: a dataclass whose fields carry their help, from which come the flags,
the config-file loading and the type checks, so the three can never disagree.

Declare::

    @dataclass
    class Options:
        k: int = setting(1, "profile items in the prompt")
        lr: float = setting(5e-5, "peak learning rate")
        tasks: list[str] = setting(help="tasks to run", default_factory=lambda: ["LaMP-3"])
        mode: Literal["fast", "exact"] = setting("exact", "how to decode")
        model: str | None = setting(None, "model folder or hub id", aliases=("model_name",))

Use::

    add_flags(parser, Options)                       # --k INT, --lr FLOAT, --tasks A B, --mode {fast,exact} ...
    opts = from_args(Options, args, config=args.config)   # defaults < config file < given flags, checked

Flags are spelled with underscores (``--max_length``); :func:`accept_both_spellings` also accepts the
other spelling of every flag of a parser (``--max-length``), hidden from the help. A bool is a pair
``--x`` / ``--no_x`` (``--no-x`` accepted too). Config files are JSON, or YAML by suffix (``.yaml``,
``.yml``); an unknown key or a wrong type is a :class:`LampError` naming the file and the key, with a
"did you mean" for a misspelt key.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence, TypeVar, Union

from lamp.core.errors import LampError
from lamp.core.registry import suggestion, unknown_message

T = TypeVar("T")
_MISSING: Any = dataclasses.MISSING


def setting(default: Any = _MISSING, help: str = "", *, default_factory: Callable[[], Any] = _MISSING,  # noqa: A002
            aliases: Sequence[str] = ()) -> Any:
    """A dataclass field with its help text and the other names it answers to (flags and config keys)."""
    if not help:
        raise TypeError("a setting needs its help text")
    metadata = {"help": help, "aliases": tuple(aliases)}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One setting as the flags, the loader and the checks see it."""

    name: str
    kind: type                      # int, float, bool, str, list or dict
    item: type | None               # a list's element type
    optional: bool                  # None is allowed
    choices: tuple[Any, ...] | None  # a Literal's values
    default: Any
    help: str
    aliases: tuple[str, ...]

    def describe(self) -> str:
        if self.choices is not None:
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind is list:
            text = f"a list of {'strings' if self.item is str else self.item.__name__ + 's'}"  # type: ignore[union-attr]
        elif self.kind is dict:
            text = "a mapping"
        else:
            text = self.kind.__name__
        return text + (" or null" if self.optional else "")


def _spec(f: dataclasses.Field, hint: Any) -> Spec:
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"setting {f.name}: unsupported type {hint}")
        hint = args[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    item, choices = None, None
    if origin is Literal:
        choices, kind = tuple(args), type(args[0])
    elif origin is list:
        kind, item = list, (args[0] if args else str)
    elif origin is dict or hint is dict:
        kind = dict
    elif hint in (int, float, bool, str):
        kind = hint
    else:
        raise TypeError(f"setting {f.name}: unsupported type {hint}")
    default = f.default_factory() if f.default_factory is not _MISSING else f.default
    return Spec(f.name, kind, item, optional, choices, default, f.metadata.get("help", ""),
                tuple(f.metadata.get("aliases", ())))


@functools.lru_cache(maxsize=None)
def specs(cls: type) -> tuple[Spec, ...]:
    """The settings of a dataclass, in field order, with their types resolved."""
    hints = typing.get_type_hints(cls)
    return tuple(_spec(f, hints[f.name]) for f in dataclasses.fields(cls))


# --------------------------------------------------------------------------- values

def _value_error(spec: Spec, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec`` (None when it does)."""
    if value is None:
        return None if spec.optional else "got null"
    if spec.choices is not None:
        if value in spec.choices and type(value) is type(spec.choices[0]):
            return None
        hint = suggestion(str(value), [str(c) for c in spec.choices])
        return f"got {value!r}" + (f".{hint}" if hint else "")
    if spec.kind is list:
        if isinstance(value, str):
            return f"not the string {value!r} (write [{json.dumps(value)}])"
        if not isinstance(value, list) or not all(_fits(spec.item, v) for v in value):  # type: ignore[arg-type]
            return f"got {value!r}"
        return None
    if _fits(spec.kind, value):
        return None
    hint = " (YAML reads 1e-5 as text: write 1.0e-5)" if spec.kind is float and isinstance(value, str) else ""
    return f"got {type(value).__name__} {value!r}{hint}"


def _fits(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


def check_value(spec: Spec, value: Any, source: str) -> None:
    """Raise :class:`LampError` (naming ``source`` and the key) when ``value`` is not of the setting's type."""
    why = _value_error(spec, value)
    if why is not None:
        raise LampError(f"{source}: {spec.name} must be {spec.describe()}, {why}")


def check_values(cls: type, raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``raw`` keyed by field names (aliases resolved), unknown keys and wrong types refused."""
    by_name = {s.name: s for s in specs(cls)}
    names = {**{a: s.name for s in specs(cls) for a in s.aliases}, **{n: n for n in by_name}}
    unknown = sorted(key for key in raw if key not in names)
    if unknown:
        raise LampError(f"{source}: " + "; ".join(unknown_message("config key", key, by_name, also=names)
                                                  for key in unknown))
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = names[key]
        if name in out:
            raise LampError(f"{source}: {key} and {name} are the same setting; give one")
        check_value(by_name[name], value, source)
        out[name] = value
    return out


def check(obj: Any, source: str) -> None:
    """Every field of a settings object has its declared type (a config file can say ``k: two``)."""
    for spec in specs(type(obj)):
        check_value(spec, getattr(obj, spec.name), source)


# --------------------------------------------------------------------------- config files

def _yaml_loader() -> type:
    """PyYAML's safe loader that also reads ``5e-5`` as a float (YAML 1.2 does; PyYAML's 1.1 reads text)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a JSON or YAML config file (YAML by suffix), errors naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LampError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise LampError(f"{path}: the config is not UTF-8 (byte {exc.start})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        else:
            raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LampError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                        "YAML configs need a .yaml or .yml name") from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError and its subclasses
        raise LampError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise LampError(f"{path}: a config is a mapping of keys to values, got {type(raw).__name__}")
    return raw


def from_file(cls: type[T], path: str | os.PathLike) -> T:
    """A settings object from a config file: its keys over the defaults, every key's type checked."""
    return cls(**check_values(cls, load_config(path), str(path)))


# --------------------------------------------------------------------------- flags

def _option(name: str) -> str:
    """``--name`` in the one spelling of the harness's flags (underscores)."""
    return "--" + name.replace("-", "_")


class Toggle(argparse.Action):
    """A bool flag: ``--x`` sets True, ``--no_x`` False (any spelling of them, aliases included)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.negatives = {_option(s[2:]) for s in option_strings if s.startswith("--no")}

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, _option((option_string or "--")[2:]) not in self.negatives)


def alias(parser: argparse.ArgumentParser | argparse._ArgumentGroup, action: argparse.Action,
          *names: str) -> None:
    """Let ``action`` answer to ``names`` too, without listing them in the help."""
    table = parser._option_string_actions
    for name in names:
        owner = table.get(name)
        if owner is not None and owner is not action:
            raise ValueError(f"{name} is already the flag of {owner.dest}")
        table[name] = action


def accept_both_spellings(parser: argparse.ArgumentParser) -> None:
    """Every ``--a_b`` flag of ``parser`` (and of its sub-commands) also answers to ``--a-b``, and the
    reverse, unless that spelling is another flag's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():
                accept_both_spellings(sub)
    for option, action in list(parser._option_string_actions.items()):   # aliases included
        body = option[2:]
        other = "--" + (body.replace("_", "-") if "_" in body else body.replace("-", "_"))
        if option.startswith("--") and other != option and other not in parser._option_string_actions:
            alias(parser, action, other)


def _shown(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(map(str, value))
    return json.dumps(value) if isinstance(value, dict) else value


def json_object(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object given on the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"base_url\": \"http://…/v1\"}'")
    return value


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, *,
              skip: Iterable[str] = (), rename: Mapping[str, str] | None = None, defaults: bool = False,
              aliases: bool = True, help_extra: Mapping[str, str] | None = None) -> None:
    """One flag per setting of ``cls``: its type, help text and default, and its aliases.

    ``defaults=False`` leaves a flag not given out of the namespace (so :func:`from_args` can lay the
    given flags over a config file); ``rename`` gives a setting another flag name in this command
    (the field name stays an alias); ``aliases=False`` offers only the primary names (the official
    scripts' exact flags)."""
    skipped, rename, help_extra = set(skip), rename or {}, help_extra or {}
    for spec in specs(cls):
        if spec.name in skipped:
            continue
        primary = _option(rename.get(spec.name, spec.name))
        others = [_option(a) for a in (spec.name, *spec.aliases) if _option(a) != primary] if aliases else []
        text = spec.help + help_extra.get(spec.name, "")
        if others:
            text += f" (also {', '.join(others)})"
        kwargs: dict[str, Any] = {"dest": spec.name, "help": f"{text} (default: {_shown(spec.default)})",
                                  "default": spec.default if defaults else argparse.SUPPRESS}
        if spec.kind is bool:
            negative = "--no_" + primary[2:]
            action = parser.add_argument(primary, negative, action=Toggle, **kwargs)
            alias(parser, action, "--no-" + primary[2:])          # argparse's BooleanOptionalAction spelling
            for other in others:
                alias(parser, action, other, "--no_" + other[2:])
            continue
        if spec.kind is list:
            kwargs.update(nargs="+", type=spec.item)
        elif spec.kind is dict:
            kwargs.update(type=json_object)
        else:
            kwargs.update(type=spec.kind, choices=spec.choices)
        alias(parser, parser.add_argument(primary, **kwargs), *others)


def from_args(cls: type[T], args: argparse.Namespace, config: str | os.PathLike | None = None) -> T:
    """The defaults, then the config file (when given), then the flags present in ``args``."""
    values = check_values(cls, load_config(config), str(config)) if config else {}
    values.update({s.name: getattr(args, s.name) for s in specs(cls) if hasattr(args, s.name)})
    return cls(**values)
