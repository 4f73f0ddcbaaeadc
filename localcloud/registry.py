"""The registry of fidelity fixes (``localcloud.fidelity``): what a fix is, how a module registers
its own, how one is installed.

A fix is a small, documented monkeypatch that makes moto 5.2.5 answer like real AWS. The fixes live
with the service they correct (``localcloud/<service>/*fixes*.py`` and a few modules named for what
they model); each such module registers its fixes here with ``_fix = fixer(__name__)`` and installs
them with :func:`around` (a wrapper that gets the method it replaces first), :func:`replace` (a
method in place of moto's) or, for anything else, :func:`patch`, through which both install. This
module imports nothing of the project: the services import it, never the other way round.
``localcloud.fidelity.install`` imports every module that registers fixes, in the order their fixes
are applied.

Pin ``moto==5.2.5``: the fixes are written against its internals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["MARK", "Fix", "around", "fixer", "fixes_of", "patch", "replace"]

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Fix:
    """One fidelity fix: what moto does, what AWS does, and the function that installs the fix."""

    name: str
    moto_behaviour: str
    aws_behaviour: str
    install: Callable[[], None]


# Module name -> its fixes, in the order the module declares them.
_BY_MODULE: dict[str, list[Fix]] = {}

MARK = "__localcloud_fidelity__"


def fixer(module: str) -> Callable[[str, str, str], Callable[[Callable[[], None]], Callable[[], None]]]:
    """The decorator with which ``module`` registers its fixes: ``@fix(name, moto_does, aws_does)``."""

    def fix(
        name: str, moto_behaviour: str, aws_behaviour: str
    ) -> Callable[[Callable[[], None]], Callable[[], None]]:
        def register(install: Callable[[], None]) -> Callable[[], None]:
            _BY_MODULE.setdefault(module, []).append(Fix(name, moto_behaviour, aws_behaviour, install))
            return install

        return register

    return fix


def fixes_of(module: str) -> list[Fix]:
    """The fixes ``module`` registered, in its order (none if it registered none)."""
    return list(_BY_MODULE.get(module, ()))


def patch(
    owner: type, attr: str, make: Callable[[Any], Callable[..., Any]], markers: tuple[str, ...] = (MARK,)
) -> None:
    """Set ``owner.attr`` to ``make(current)`` unless a fix already did (idempotence).

    The marker lives on the installed function, i.e. on moto's class, so re-importing a fix's
    module does not install the fix twice. A fix that wraps a method another fix installed already
    (which carries ``MARK``) names a marker of its own first in ``markers``: that one decides, and
    the installed function carries them all.
    """
    current = getattr(owner, attr, None)
    if getattr(current, markers[0], False):
        return
    new = make(current)
    for marker in markers:
        setattr(new, marker, True)
    setattr(owner, attr, new)


def around(owner: type, *attrs: str, markers: tuple[str, ...] = (MARK,)) -> Callable[[_F], _F]:
    """Install the decorated ``wrapper(orig, self, ...)`` around each ``owner.attr`` with :func:`patch`.

    Each call of the patched method calls ``wrapper`` with the method it replaced (``orig``) first,
    then the call's own arguments; the installed method carries ``orig``'s name and docstring.
    """

    def install(wrapper: _F) -> _F:
        for attr in attrs:
            patch(owner, attr, functools.partial(_calling, wrapper), markers)
        return wrapper

    return install


def _calling(wrapper: Callable[..., Any], orig: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return wrapper(orig, *args, **kwargs)

    return wrapped


def replace(owner: type, *attrs: str) -> Callable[[_F], _F]:
    """Install the decorated method as each ``owner.attr`` with :func:`patch`, in place of moto's."""

    def install(method: _F) -> _F:
        for attr in attrs:
            patch(owner, attr, lambda _orig: method)
        return method

    return install
