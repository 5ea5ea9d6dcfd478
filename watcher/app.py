"""Starting the watcher: the credential, the language, the feed, then the terminal or the GUI."""

from __future__ import annotations

import logging
import sys
import threading
import tkinter as tk
from typing import TextIO

from watcher import i18n
from watcher.config import Options
from watcher.feed import HubFeed, Subscription
from watcher.terminal import Terminal
from wire.config import ConfigError
from wire.credential import load_credential
from wire.roles import Role

log = logging.getLogger("vigia.watcher.app")


def make_feed(options: Options, *, thumbnails: bool) -> HubFeed:
    """The feed to the hub this credential names (or `--hub`), filtered as asked. The text
    filter is the watcher's own; the rest the hub applies."""
    credential = load_credential(options.credential)
    if credential.role not in (Role.WATCHER, Role.ADMIN):
        raise ConfigError(
            f"{options.credential}: role '{credential.role.value}' cannot read the log "
            "(a watcher or admin credential is needed)"
        )
    server_side = options.filters.model_copy(update={"text": ""})
    return HubFeed(
        options.endpoint(credential),
        credential.identity(),
        Subscription(server_side, thumbnails=thumbnails),
    )


def run_terminal(
    options: Options, out: TextIO | None = None, stop: threading.Event | None = None
) -> int:
    """The terminal mode, until `stop` (or Ctrl-C; or caught up, with `--once`)."""
    i18n.use(i18n.load(options.lang))
    feed = make_feed(options, thumbnails=False)
    feed.start()
    try:
        Terminal(feed, out or sys.stdout, text=options.filters.text, once=options.once).run(
            stop or threading.Event()
        )
    except KeyboardInterrupt:
        pass
    finally:
        feed.stop()
    return 0


def run_gui(options: Options) -> int:
    """The desktop app, until its window is closed."""
    from watcher.gui.window import WatcherWindow  # noqa: PLC0415 - Tk only for the GUI

    i18n.use(i18n.load(options.lang))
    feed = make_feed(options, thumbnails=False)
    try:
        window = WatcherWindow(feed, cache_thumbnails=options.cache_thumbnails)
    except tk.TclError as exc:  # no display: over SSH, say what to do instead
        print(f"watcher: error: cannot open a window ({exc}); use --cli", file=sys.stderr)
        return 2
    window.start()
    try:
        window.root.mainloop()
    except KeyboardInterrupt:
        pass
    finally:
        window.close()
    return 0
