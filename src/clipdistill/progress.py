"""The one progress bar of the package: live while you watch, one line once saved.

Every long loop (resizing, embedding, describing, decoding, training, sweeping) uses
:func:`progress_bar`. In a Jupyter kernel the bar is a single display output updated in
place, so the notebook papermill saves keeps only its final state, e.g.
``embedding images: 100%|##########| 64/64 [00:04<00:00, 15.2img/s]``, without the
postfix that named the step in progress. A bar made with
``leave=False`` (a step inside a larger loop) clears itself when it closes, so a sweep of
forty runs saves one line, not forty-one. Outside a kernel the bar is plain tqdm on stderr.
``CLIPDISTILL_PROGRESS=off`` silences every bar.

Because every long loop goes through here, this is also where a test of resumption stops
a run in the middle, at a step it chooses rather than at a moment a timer picks:
``CLIPDISTILL_KILL_AFTER="embedding images:16"`` kills the process outright (SIGKILL: no
``finally``, no flush, as an out-of-memory kill or a pulled plug would) once the first bar
whose description starts with ``embedding images`` has counted 16 steps.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, Iterator

__all__ = ["progress_bar", "in_kernel", "nested"]

_NESTED = 0  # > 0 inside `nested()`: every bar is a step of a larger one


def in_kernel() -> bool:
    """True inside a Jupyter/papermill kernel (where stderr bars would be saved per refresh)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, unit: str = "it",
                 leave: bool = True, initial: int = 0):
    """A tqdm bar that reads well in a terminal, in Jupyter and in a saved notebook."""
    from tqdm.std import tqdm

    leave = leave and not _NESTED

    if not enabled or os.environ.get("CLIPDISTILL_PROGRESS", "auto") == "off":
        bar = tqdm(total=total, disable=True)
    elif in_kernel():
        bar = _display_bar_class()(total=total, desc=desc, unit=unit, leave=leave, initial=initial)
    else:
        bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=leave,
                   initial=initial, mininterval=0.5)
    return _with_kill_point(bar, desc, initial)


def _with_kill_point(bar: Any, desc: str, initial: int) -> Any:
    """``bar``, made to kill this process at ``CLIPDISTILL_KILL_AFTER``'s step (module doc)."""
    spec = os.environ.get("CLIPDISTILL_KILL_AFTER", "")
    name, _, steps = spec.rpartition(":")
    if not name or not desc.startswith(name) or not steps.isdigit():
        return bar
    done = [initial]
    update = bar.update

    def update_then_maybe_die(n: float = 1) -> Any:
        out = update(n)
        done[0] += n
        if done[0] >= int(steps):
            import signal

            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        return out

    bar.update = update_then_maybe_die
    return bar


@contextlib.contextmanager
def nested() -> Iterator[None]:
    """Bars made inside this block clear themselves when done (``leave=False``): the work
    of one step of a larger loop, whose own bar is the one a saved notebook keeps."""
    global _NESTED
    _NESTED += 1
    try:
        yield
    finally:
        _NESTED -= 1


_DISPLAY_BAR: Any = None


def _display_bar_class():
    """tqdm drawn into an IPython display handle instead of a stream (built once, lazily)."""
    global _DISPLAY_BAR
    if _DISPLAY_BAR is not None:
        return _DISPLAY_BAR
    from tqdm.std import tqdm

    class DisplayBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            from IPython.display import display

            kwargs.update(file=io.StringIO(), ncols=80, ascii=True, mininterval=0.5)
            self._handle = None
            super().__init__(*args, **kwargs)
            self._handle = display({"text/plain": self.__str__()}, raw=True, display_id=True)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if getattr(self, "_handle", None) is not None:
                # tqdm's close() passes msg="" for leave=False: the line clears itself.
                self._handle.update({"text/plain": self.__str__() if msg is None else msg}, raw=True)
            return True

        def close(self) -> None:
            # The postfix names the step in progress (a sweep's run and epoch): stale once
            # done, and in 80 columns it squeezes the saved bar to one character and is cut
            # mid-word. The saved line keeps the count, the time and the rate.
            self.postfix = None
            super().close()

    _DISPLAY_BAR = DisplayBar
    return DisplayBar
