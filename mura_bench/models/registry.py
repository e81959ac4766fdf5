"""The model registry: plugin factories found through the ``mura_bench.models`` entry-point group.

Listing is lazy: :func:`available_models` reads installed distributions' metadata only and imports
no plugin module unless asked for descriptions (``describe=True``). :func:`load_model` imports one
plugin, calls its factory with the command line's ``--option key=value`` pairs and checks that the
result is a model. Every way a plugin can be broken (its module fails to import, its factory raises,
its factory returns something that is not a model, two distributions register the same name) is
reported as a :class:`PluginError` naming the model, its distribution and the error; one broken
plugin never stops the others from being listed or loaded.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import metadata

from mura_bench.errors import InputError
from mura_bench.models.guard import PluginError, describe_exception, plugin_code
from mura_bench.models.protocol import ENTRY_POINT_GROUP, ImageModel


@dataclass(frozen=True)
class ModelInfo:
    """One registered model as the metadata describes it.

    ``value`` is the entry point's ``module:factory`` reference, ``package``/``version`` the
    distribution that registers it. ``description`` is filled only when descriptions were asked for
    (the factory's ``description`` attribute, else the first line of its docstring); ``error`` then
    holds why the plugin could not be imported, and ``options`` the factory's options as
    ``name=default`` (see :func:`factory_options`). ``duplicates`` names the other distributions that
    register the same model name (such a name cannot be loaded until one is uninstalled).
    """

    name: str
    value: str
    package: str | None
    version: str | None
    description: str | None = None
    error: str | None = None
    duplicates: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """``package version`` (or the entry point's value when the distribution is unknown)."""
        if self.package is None:
            return self.value
        return f"{self.package} {self.version}" if self.version else self.package


def _distribution(entry_point: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"] or dist.name, dist.version


def _registered(name: str | None = None) -> list[tuple[ModelInfo, metadata.EntryPoint]]:
    """(ModelInfo, entry point) per registration (of ``name`` only, when given), sorted by name,
    with duplicate names cross-referenced. Imports nothing."""
    pairs = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if name is None or ep.name == name:
            package, version = _distribution(ep)
            pairs.append((ModelInfo(ep.name, ep.value, package, version), ep))
    infos = [info for info, _ in pairs]
    pairs = [
        (
            replace(
                info, duplicates=tuple(other.origin for other in infos if other.name == info.name and other is not info)
            ),
            ep,
        )
        for info, ep in pairs
    ]
    return sorted(pairs, key=lambda pair: (pair[0].name, pair[0].origin))


def _describe(factory: object) -> str | None:
    try:
        text = getattr(factory, "description", None)
    except Exception:
        text = None
    if not isinstance(text, str) or not text.strip():
        text = inspect.getdoc(factory) or ""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first or None


#: How :func:`factory_options` marks an option the factory requires (no default).
REQUIRED_MARK = " (required)"


def required_options(options: tuple[str, ...]) -> list[str]:
    """The names of the required options in a :func:`factory_options` listing."""
    return [o.removesuffix(REQUIRED_MARK) for o in options if o.endswith(REQUIRED_MARK)]


def factory_options(factory: object) -> tuple[str, ...]:
    """The ``--option`` keys a factory takes, from its signature: ``name=default``, ``name (optional)``
    when its default is None (the model then chooses), ``name (required)`` without a default and
    ``any key=value`` for ``**kwargs``. Empty when the signature cannot be read."""
    try:
        params = inspect.signature(factory).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ()
    out = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.append("any key=value")
        elif p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            if p.default is inspect.Parameter.empty:
                out.append(f"{p.name}{REQUIRED_MARK}")
            elif p.default is None:
                out.append(f"{p.name} (optional)")
            else:
                out.append(f"{p.name}={p.default}")
    return tuple(out)


def available_models(*, describe: bool = False) -> list[ModelInfo]:
    """Every model registered in the ``mura_bench.models`` group, sorted by name.

    Without ``describe`` nothing is imported. With it, each plugin's factory is imported (not
    called) to read its description; a plugin whose import fails is listed with ``error`` set
    instead of raising.
    """
    registered = _registered()
    if not describe:
        return [info for info, _ in registered]
    described = []
    for info, ep in registered:
        try:
            with plugin_code(info.name, f"failed to import {info.value}"):
                factory = ep.load()
                description, options = _describe(factory), factory_options(factory)
        except PluginError as exc:  # a broken plugin must not break the listing
            described.append(replace(info, error=_error_of(exc)))
            continue
        described.append(replace(info, description=description, options=options))
    return described


def _error_of(exc: PluginError) -> str:
    """What the plugin did, without the ``model 'NAME'`` prefix (the listing names it already)."""
    cause = exc.__cause__
    return describe_exception(cause).removeprefix("raised ") if cause is not None else exc.problem


def model_names() -> list[str]:
    """Sorted unique names of registered models (imports nothing)."""
    return sorted({info.name for info, _ in _registered()})


def _unknown(name: str, names: Sequence[str]) -> PluginError:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else None
    registered = ", ".join(names) if names else "none"
    return PluginError(
        f"unknown model {name!r} (registered: {registered})",
        hint=hint or "see `mura-bench models` for the registered models",
    )


def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` from repeated ``--option`` flags -> ``{"k": "v"}``.

    Values keep everything after the first ``=`` (they may contain ``=``). A pair without ``=``,
    an empty key or a repeated key raises InputError.
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"model option {pair!r} is not of the form key=value", source="--option")
        if key in options:
            raise InputError(f"model option {key!r} given twice", source="--option")
        options[key] = value
    return options


def _check_options(name: str, factory: object, options: Mapping[str, str]) -> None:
    """Reject option names the factory's signature cannot accept, listing those it does."""
    try:
        params = inspect.signature(factory).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [
        p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise PluginError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}",
            source="--option",
            hint=f"its options: {', '.join(accepted) if accepted else 'none'}",
        )


def is_model(obj: object) -> bool:
    """True when ``obj`` has a callable ``predict_images`` (the :class:`ImageModel` protocol)."""
    return callable(getattr(obj, "predict_images", None))


def _options_text(options: Mapping[str, str]) -> str:
    if not options:
        return "its default options"
    return "options " + ", ".join(f"{k}={v!r}" for k, v in options.items())


def load_model(name: str, options: Mapping[str, str] | None = None) -> ImageModel:
    """Import the plugin registered as ``name``, call its factory with ``options`` and return the model.

    Raises :class:`PluginError` for an unknown name (with a did-you-mean), a name registered by
    several distributions, a plugin whose import fails, an option the factory does not take, a
    factory that raises anything or calls ``sys.exit`` (see :mod:`.guard`), or a factory that
    returns no model. An :class:`InputError` the factory raises itself (e.g. a bad option value)
    keeps its message, prefixed with the model's name.
    """
    options = dict(options or {})
    registered = _registered(name)
    if not registered:
        raise _unknown(name, model_names())
    if len(registered) > 1:
        raise PluginError(
            f"model {name!r} is registered by several distributions: "
            f"{'; '.join(f'{i.origin} ({i.value})' for i, _ in registered)}",
            hint="uninstall all but one of them",
        )
    info, ep = registered[0]
    with plugin_code(name, f"({info.origin}) failed to import {info.value}"):
        factory = ep.load()
        _check_options(name, factory, options)
    with plugin_code(name, f"({info.origin}) could not be created with {_options_text(options)}"):
        model = factory(**options)
        usable = is_model(model)
    if not usable:
        raise PluginError(
            f"model {name!r} ({info.origin}): factory {info.value} returned "
            f"{type(model).__name__}, which has no predict_images(images) method"
        )
    return model


__all__ = [
    "ModelInfo",
    "PluginError",
    "available_models",
    "factory_options",
    "is_model",
    "load_model",
    "model_names",
    "parse_options",
]
