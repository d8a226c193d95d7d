"""Checked ``key=value`` config overrides: a misspelled key or a wrong type is an error.

Detectron2's ``LazyConfig.apply_overrides`` creates any key it is given, so ``train.max_itr=2``
silently trained 400 iterations. :func:`apply_overrides` parses the same Hydra syntax and refuses,
with a one-line :class:`~rmlr.config.loading.ConfigError` naming the key:

* a key that is not in the config, suggesting the closest existing one (``train.max_itr`` ->
  ``train.max_iter``; ``trian.x`` -> ``train``). Inside a ``LazyCall`` node a key may also be any
  keyword argument of the node's target (e.g. ``model.entity_detector.keep_dropout``), and the
  keys in :data:`OPTIONAL_KEYS`, read by the training script with a default, are always accepted;
* a value whose type does not fit the current one: an integer key takes integers
  (``train.max_iter=abc`` and ``2.5`` are refused), a float key numbers, a boolean key
  ``true``/``false``, a string key strings (numbers are turned into strings), a list key lists, a
  config node (a module) a dict, or ``null`` / ``None`` to remove it (``model.ire=None``); a
  ``LazyCall`` node of a function (not a class) may be replaced by any value (e.g. the text
  teacher's path, computed by a function in the tiny configs).

Interpolations (``key=${..other}``), keys whose current value is an interpolation, ``None`` or an
object, and every value of the right type are applied as Detectron2 does (merged into nodes).
"""

import difflib
import inspect
from typing import Any, Dict, List, Sequence

from detectron2.utils.registry import locate
from omegaconf import DictConfig, ListConfig, OmegaConf

from .loading import ConfigError

__all__ = ["OPTIONAL_KEYS", "apply_overrides"]

#: Keys the training entry reads with a default; accepted even when a config does not set them.
OPTIONAL_KEYS: Dict[str, type] = {
    "train.allow_partial_init_checkpoint": bool,
    "train.allow_random_entity_detector": bool,
    "train.grad_accum_steps": int,
    "train.seed": int,
}

_REFUSED = object()  # _convert's answer for a value of the wrong type
_TYPE_NAMES = {
    bool: "a boolean (true/false)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _closest(word: str, candidates: Sequence[str]):
    match = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.5)
    return match[0] if match else None


def _target_parameters(node: DictConfig):
    """The keyword parameters of a LazyCall node's target, or None if unknown / ``**kwargs``."""
    target = node.get("_target_")
    try:
        target = locate(target) if isinstance(target, str) else target
        params = inspect.signature(target).parameters
    except Exception:  # not resolvable or no signature: cannot check
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return params


def _check_value(override: str, key: str, current: Any, value: Any) -> Any:
    """``value`` (possibly converted) if it fits ``current``'s type, else ConfigError."""
    if isinstance(value, str) and "${" in value:
        return value  # an interpolation: resolved later
    if isinstance(current, DictConfig):
        if value is None or value == "None":
            return None
        if isinstance(value, dict):
            return value
        target = current.get("_target_", None)
        try:
            resolved = locate(target) if isinstance(target, str) else target
        except Exception:  # unresolvable: treat as a class
            resolved = None
        if resolved is not None and callable(resolved) and not inspect.isclass(resolved):
            return value  # a function's result (e.g. a path): any value may replace it
        what = getattr(target, "__qualname__", target) or "a config node"
        raise ConfigError(
            f"override {override!r}: {key} is a config node ({what}); set it to null/None to "
            f"remove it, or change one field with {key}.<field>=value"
        )
    if isinstance(current, (ListConfig, list, tuple)):
        if isinstance(value, (list, tuple)) or value is None:
            return value
        raise ConfigError(f"override {override!r}: {key} expects a list like [a,b], got {value!r}")
    if current is None:
        return None if value == "None" else value
    for kind in (bool, int, float, str):
        if isinstance(current, kind):
            break
    else:
        return value  # an object (allow_objects configs): not checked
    converted = _convert(value, kind)
    if converted is _REFUSED:
        raise ConfigError(
            f"override {override!r}: {key} expects {_TYPE_NAMES[kind]} (it is {current!r}), "
            f"got {value!r}"
        )
    return converted


def _convert(value: Any, kind: type) -> Any:
    if value is None:
        return None if kind is str else _REFUSED
    if kind is bool:
        return value if isinstance(value, bool) else _REFUSED
    if isinstance(value, bool):
        return _REFUSED
    if kind is int:
        return value if isinstance(value, int) else _REFUSED
    if kind is float:
        return float(value) if isinstance(value, (int, float)) else _REFUSED
    return str(value) if isinstance(value, (str, int, float)) else _REFUSED


def _checked(cfg: DictConfig, key: str, value: Any, override: str) -> Any:
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the config"
        last = i == len(parts) - 1
        if isinstance(node, ListConfig):
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigError(f"override {override!r}: {where} is a list of {len(node)}")
            present = True
        elif isinstance(node, DictConfig):
            present = part in node
        else:
            raise ConfigError(
                f"override {override!r}: {where} is a {type(node).__name__}, not a config node"
            )
        if not present:
            return _absent(node, parts, i, value, override)
        index = int(part) if isinstance(node, ListConfig) else part
        if last:
            raw = node._get_node(index)
            if raw is not None and raw._is_interpolation():
                return value
            return _check_value(override, key, node[index], value)
        node = node[index]
    return value


def _absent(node: DictConfig, parts: List[str], i: int, value: Any, override: str) -> Any:
    key, part = ".".join(parts), parts[i]
    where = ".".join(parts[:i])
    if key in OPTIONAL_KEYS:
        return _check_value(override, key, OPTIONAL_KEYS[key](), value)
    candidates = list(node.keys())
    if "_target_" in node:
        params = _target_parameters(node)
        if params is None:
            return value
        if part in params and i == len(parts) - 1:
            default = params[part].default
            basic = isinstance(default, (bool, int, float, str)) and default is not None
            return _check_value(override, key, default, value) if basic else value
        candidates += [p for p in params if p not in candidates and not p.startswith("_")]
    name = f"'{where}'" if where else "the config"
    prefix = f"{where}." if where else ""
    match = _closest(part, candidates)
    if match is not None:
        hint = f"did you mean '{prefix}{match}'?"
    else:
        shown = sorted(str(c) for c in candidates)
        hint = f"it has: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''}"
    raise ConfigError(
        f"override {override!r}: unknown config key '{prefix}{part}' ({name} has no '{part}'; "
        f"{hint})"
    )


def apply_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """Apply ``key=value`` overrides (Hydra syntax, as Detectron2) in place, checking each key
    and value (module docstring). Returns ``cfg``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except OverrideParseException as e:
            raise ConfigError(f"override {text!r}: not key=value ({str(e).splitlines()[0]})") from e
        key = override.key_or_group
        if override.is_delete():
            raise ConfigError(f"override {text!r}: deleting a key is not supported")
        value = _checked(cfg, key, override.value(), text)
        OmegaConf.update(cfg, key, value, merge=True)
    return cfg
