"""The course layer: what only the book needs, kept out of the flow library.

``import nflib`` never loads this package. It holds the quizzes (data and rendering), the
book's figure style and kernel-free interactive figures, the chapters' demo pieces, the
exercise checks, and the Newton chapter's coupling model. Its extra dependencies (matplotlib,
IPython, jupyterquiz, jsonschema) come with ``pip install nflib[course]``.

Every chapter starts with::

    from nflib.course import setup
    setup()
"""

from __future__ import annotations

__all__ = ["setup"]


def setup(blas_threads: int = 1) -> None:
    """Prepare a chapter's kernel: limit BLAS threads, then set the book's figure style.

    The book's matrices are tiny (2x2 to 64x64). With more than one BLAS thread, every small
    product pays for waking and synchronising threads; on a machine whose cores are busy (Binder,
    a laptop under load, a CPU quota) that made the Newton chapter take 605 s instead of 6 s.
    One thread is as fast as many on an idle machine and immune to that on a busy one.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=blas_threads, user_api="blas")
    from .viz import use_book_style

    use_book_style()
