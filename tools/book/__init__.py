"""The book as a whole, for the tests, the tools, the benchmarks and the Sphinx extensions: its
table of contents, building it, its executed notebooks and serving the built site.

This is tooling beside the book, not part of ``nflib`` (readers who install ``nflib[course]`` to
run a notebook get none of it). With ``tools/`` on the path (pytest's ``pythonpath`` does this)::

    import book
    book.chapters(root)                       # the chapter notebooks, in _toc.yml order
    built = book.build(root, output, jobs=2)  # strict build, every notebook executed afresh
    nb = book.executed(built, "chapters/01_change_of_variables")
    nb.glued["ch1_int_x"]                     # a value the page glued
    with book.serve(built.html) as url: ...   # the site on 127.0.0.1

Command line (used by ``build`` so that the build's output is captured)::

    python -m book build ROOT OUTPUT [--jobs 2]      # with tools/ on PYTHONPATH
"""

from .build import (BOOK_PDF, EXECUTED_FOLDER, PDF_FOLDER, BuiltBook, build, executed_dir,
                    execution_seconds, glue_data)
from .executed import (ExecutedNotebook, GlueError, NotebookError, RichGlue, execute, executed,
                       glued_value, glued_values, unwrap_numpy_scalar)
from .serve import serve
from .toc import book_notebooks, chapters, find_root, is_notebook, toc_entries, toc_pages

__all__ = ["find_root", "toc_entries", "toc_pages", "PDF_FOLDER", "BOOK_PDF", "chapters",
           "book_notebooks", "is_notebook", "BuiltBook", "EXECUTED_FOLDER", "executed_dir",
           "glue_data", "unwrap_numpy_scalar", "glued_value", "glued_values", "GlueError",
           "RichGlue", "build", "ExecutedNotebook", "executed", "execute",
           "execution_seconds", "serve", "NotebookError"]
