"""The built site served on an ephemeral port of 127.0.0.1, for a browser."""

from __future__ import annotations

from contextlib import contextmanager

@contextmanager
def serve(html):
    """Serve the folder ``html`` on 127.0.0.1 (an ephemeral port) while in the block; yields the
    base URL, e.g. ``http://127.0.0.1:41234/``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def end_headers(self):
            # like a static host: the theme's shared files may be cached while a tab browses
            if self.path.startswith("/_static/"):
                self.send_header("Cache-Control", "max-age=3600")
            super().end_headers()

    handler = functools.partial(Quiet, directory=str(html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
