"""Work arrays that are reused from call to call instead of allocated and freed every time.

A forward and backward pass of an MLP makes arrays of a few hundred kB to a few MB (one per
layer activation, gradient, log-scale, ...). Allocating them afresh every call costs page faults
once the C allocator has handed the freed memory back to the operating system, which depends on
a process-wide allocator setting. ``empty(shape)`` is ``np.empty(shape)`` (float64) that first
looks for an array of that shape it handed out before and that nobody uses any more.

When is an array free? When the workspace holds the only reference to it. Every holder keeps it
out of reuse: a cache returned by a forward pass (so two forward passes before one backward pass
get separate arrays), a caller who kept the result, and any view or slice of it (a numpy view
holds a reference to the array that owns the memory). This is read from CPython's reference
count, so reuse is exactly as safe as freeing the array would have been: an array is recycled
only when it would otherwise have been freed. On an interpreter without reference counts
``empty`` is plain ``np.empty``.

The workspace keeps at most ``max_bytes`` of arrays (``set_max_bytes``; 256 MiB by default); past
that it drops free arrays of other shapes, and when everything kept is in use it hands out
untracked arrays, as ``np.empty`` would. The arrays it keeps stay allocated between calls: that
is the memory a pass needed anyway, kept for the next one. A training step of an 8-layer RealNVP
(64x64 conditioners) keeps about 10 kB per sample in its batch (every layer's activations wait
for the backward pass), so batches beyond about 25,000 outgrow the default and are partly
allocated afresh; ``set_max_bytes`` raises the limit. ``Flow.log_prob`` and ``Flow.sample`` need
no backward pass and release each layer's arrays before the next layer runs: about 1.1 kB per
sample, so batches up to about 200,000 fit. The default stays small on purpose: a reader's kernel
on Binder has at most 2 GB in all, and memory kept here stays with the process until
``clear()`` forgets every kept array (or ``set_max_bytes`` lowers the limit).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["empty", "clear", "set_max_bytes", "kept_bytes"]


def _count_when_free() -> int | None:
    """The reference count ``Workspace.empty`` sees for an array that only its list holds
    (None where reference counts cannot be read or are not exact, e.g. free-threaded builds)."""
    if not hasattr(sys, "getrefcount") or not getattr(sys, "_is_gil_enabled", lambda: True)():
        return None
    arrays = [np.empty(1)]
    for a in arrays:  # the same loop as in Workspace.empty: the list and the loop variable
        return sys.getrefcount(a)


class Workspace:
    """Float64 arrays by shape; ``empty(shape)`` returns a free one or makes one."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = int(max_bytes)
        self._arrays: dict[tuple, list] = {}
        self._bytes = 0
        self._free_count = _count_when_free()
        self._lock = threading.Lock()  # for changes to the pool; reading it needs none

    def empty(self, shape) -> np.ndarray:
        """An uninitialised float64 array of ``shape`` (a tuple) that no one else holds.

        The loop variable holds a reference while an array is checked and returned, so two
        threads looking at the same array both see it held and neither takes it.
        """
        arrays = self._arrays.get(shape)
        if arrays is not None:
            for a in arrays:
                if sys.getrefcount(a) == self._free_count:
                    return a
        return self._new(shape)

    def _new(self, shape) -> np.ndarray:
        a = np.empty(shape)
        if self._free_count is None:
            return a
        with self._lock:
            if self._bytes + a.nbytes > self.max_bytes:
                self._drop_free(self._bytes + a.nbytes - self.max_bytes)
            if self._bytes + a.nbytes <= self.max_bytes:
                self._arrays[shape] = [*self._arrays.get(shape, ()), a]
                self._bytes += a.nbytes
        return a

    def _drop_free(self, nbytes: int) -> None:
        """Forget free arrays (of any shape) until ``nbytes`` are released; forget none if the
        free arrays together hold less (they would only be made again)."""
        free = 0
        for arrays in self._arrays.values():
            for a in arrays:  # the same loop as in empty: the list and the loop variable
                if sys.getrefcount(a) == self._free_count:
                    free += a.nbytes
        if free < nbytes:
            return
        for shape, arrays in list(self._arrays.items()):
            keep = []
            for a in arrays:
                if nbytes > 0 and sys.getrefcount(a) == self._free_count:
                    nbytes -= a.nbytes
                    self._bytes -= a.nbytes
                else:
                    keep.append(a)
            if keep:
                self._arrays[shape] = keep
            else:
                del self._arrays[shape]

    def clear(self) -> None:
        with self._lock:
            self._arrays = {}
            self._bytes = 0


_DEFAULT = Workspace()
empty = _DEFAULT.empty


def clear() -> None:
    """Forget every kept array (arrays still in use stay valid; they are just not reused)."""
    _DEFAULT.clear()


def set_max_bytes(nbytes: int) -> None:
    """Keep at most ``nbytes`` of work arrays (0: never reuse, every call allocates)."""
    with _DEFAULT._lock:
        _DEFAULT.max_bytes = int(nbytes)
        _DEFAULT._drop_free(_DEFAULT._bytes - _DEFAULT.max_bytes)


def kept_bytes() -> int:
    """Bytes of work arrays the workspace keeps (in use or free)."""
    return _DEFAULT._bytes
