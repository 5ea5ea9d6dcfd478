"""A running hub: every part wired together, started, housekept and stopped cleanly."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from hub.config import HubConfig
from hub.datadir import DataDir
from hub.db import Reader
from hub.feed import Feed
from hub.images import ImageStore
from hub.jobs import Retain
from hub.peers import PeerDirectory
from hub.registry import Registry
from hub.service import HubService
from hub.status import StatusBoard
from hub.writer import Writer
from wire.server import Server, ServerOptions
from wire.tls import load_identity

log = logging.getLogger("vigia.hub")
REVOCATION_POLL_S = 0.5


class Hub:
    """`hub serve`: the server, the writer thread, the feed, and housekeeping."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.data = DataDir(config.data_dir)
        self.data.check()
        self.reader = Reader(self.data.database)
        self.images = ImageStore(
            self.data.images, self.data.root, int(config.retention.min_free_mb * 2**20)
        )
        self.feed = Feed(self.images)
        self.board = StatusBoard()
        self.writer = Writer(self.data.database, config.commit_batch, self.feed.publish)
        self.service = HubService(
            self.reader,
            self.writer,
            self.images,
            self.feed,
            self.board,
            Registry(self.data, self.writer, self.reader),
            config.watcher_queue,
        )
        self.directory = PeerDirectory(self.reader)
        self.server = Server(self._options(), self.directory, self.service)
        self.service.server = self.server
        self._stop = threading.Event()
        self._stopped = False
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="hub-housekeeping", daemon=True
        )

    def _options(self) -> ServerOptions:
        identity = load_identity(self.data.root) if self.config.tls else None
        return ServerOptions(
            name=self.config.name,
            host=self.config.host,
            port=self.config.port,
            identity=identity,
            max_body=self.config.max_body,
            spool_dir=self.data.spool,
        )

    def start(self) -> None:
        """Open the database, start the writer, listen, start housekeeping."""
        if swept := self.images.sweep_partials():
            log.info("hub %s: removed %d half-written image files", self.config.name, swept)
        self.feed.start()
        self.writer.start()
        self.board.load(self.reader)
        self.server.start()
        self._housekeeper.start()
        log.info(
            "hub %s: serving %s (last seq %d)",
            self.config.name,
            self.data.root,
            self.reader.last_seq(),
        )

    def stop(self) -> None:
        """Stop accepting, finish and commit what is in flight, close everything."""
        if self._stopped:
            return
        self._stopped = True
        log.info("hub %s: stopping", self.config.name)
        self._stop.set()
        self.server.stop()
        self.writer.stop()
        self.feed.stop()
        self._housekeeper.join(timeout=5)
        log.info("hub %s: stopped", self.config.name)

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("hub %s: got %s", self.config.name, signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self._stop.wait()
        self.stop()

    def run_retention(self) -> int:
        """One retention pass now; returns how many image files were removed."""
        policy = self.config.retention
        files = self.writer.call(
            Retain(
                int(policy.max_age_days * 86_400_000),
                int(policy.max_gb * 2**30),
                int(policy.min_age_s * 1000),
            )
        )
        self.images.remove(files)
        if files:
            log.info("retention removed %d image files", len(files))
        return len(files)

    def _housekeep(self) -> None:
        """Cut revoked peers within a second; run retention every interval."""
        next_retention = time.monotonic()
        while not self._stop.wait(REVOCATION_POLL_S):
            for name in self.directory.revoked():
                if self.server.disconnect(name, f"peer '{name}' has been revoked"):
                    log.warning(
                        "hub %s: cut the sessions of revoked peer %s", self.config.name, name
                    )
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + self.config.retention.interval_s
                self.run_retention()
