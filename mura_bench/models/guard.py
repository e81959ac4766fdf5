"""Plugins are someone else's code: every call into one is guarded.

Importing a plugin, calling its factory, reading its attributes, calling ``predict_images`` /
``predict_study`` and converting what they return all run inside :func:`plugin_code`. Whatever
the plugin does there (raises any exception, ``OSError`` included; calls ``sys.exit(0)`` or
``sys.exit(3)``; raises a ``BaseException`` subclass) becomes one :class:`PluginError` naming the
model and what it was doing, which the CLI reports with exit code 2 (a model's fault, distinct
from mura-bench's own bugs, exit 1). Only a signal's exception (Ctrl-C's ``KeyboardInterrupt``,
``Terminated`` for SIGTERM and SIGHUP) passes through.
An :class:`~mura_bench.errors.InputError` a plugin raises about its own options keeps its message,
prefixed with the model's name.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager

from mura_bench.errors import InputError
from mura_bench.io.outputs import Terminated
from mura_bench.io.terminal import excerpt, quote

#: Longest part of a plugin's own error message shown.
MAX_PLUGIN_MESSAGE = 200


class PluginError(InputError):
    """A registered model that cannot be used: unknown, ambiguous, not importable, not a model, or
    a model whose code failed (an exception, ``sys.exit``, an invalid output or attribute)."""


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` (bounded, escaped); ``sys.exit(code)`` for a SystemExit."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({quote(exc.code, 40)})"
    try:
        message = str(exc)
    except Exception:
        message = ""
    text = f"{type(exc).__name__}: {excerpt(message, MAX_PLUGIN_MESSAGE)}" if message else type(exc).__name__
    return f"raised {text}"


@contextmanager
def plugin_code(model: str, failure: str) -> Iterator[None]:
    """Run plugin code for ``model``; anything it raises (but Ctrl-C) becomes a PluginError
    ``model 'NAME' <failure>: it raised Type: message`` (or ``it called sys.exit(3)``), where
    ``failure`` says what failed ("could not be created with options ..."). A signal's exception
    (Ctrl-C, :class:`~mura_bench.io.outputs.Terminated` for SIGTERM) is the user's, not the plugin's:
    it passes through."""
    try:
        yield
    except (KeyboardInterrupt, Terminated):
        raise
    except PluginError:
        raise
    except InputError as exc:
        raise PluginError(
            f"model {model!r} {failure}: {exc.problem}", source=exc.source, rows=exc.rows, hint=exc.hint
        ) from exc
    except BaseException as exc:  # noqa: B036 - sys.exit and BaseException subclasses included
        raise PluginError(f"model {model!r} {failure}: it {describe_exception(exc)}") from exc


def batch_size_of(model: object, name: str, default: int) -> int:
    """The model's ``batch_size`` attribute as a positive int (``default`` when absent or None).

    Raises PluginError naming the model for anything else: text (``"eight"``), NaN, 2.5, 0, True.
    """
    with plugin_code(name, "failed when its batch_size was read"):
        value = getattr(model, "batch_size", None)
    if value is None:
        return default
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not integral and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        integral = True
    if not integral or int(value) < 1:
        raise PluginError(
            f"model {name!r} has batch_size {quote(value)}; expected a positive integer",
            hint="set it with the model's own option or override it with --batch-size",
        )
    return int(value)


__all__ = ["MAX_PLUGIN_MESSAGE", "PluginError", "batch_size_of", "describe_exception", "plugin_code"]
