"""GStreamer's RTSP server re-streaming a folder of RTP-ready JPEGs: the baseline of
bench/video_streams.py.

Run by Debian's /usr/bin/python3, which has the gi bindings and GstRtspServer (our virtual
environment has neither). Serves rtsp://HOST:PORT/cam1 .. /camN, each path its own shared media
(one pipeline, however many clients) that loops over DIR/frame000.jpg, frame001.jpg, ... at
--fps without decoding them:

    multifilesrc ! jpegparse ! identity datarate=FPS*BYTES ! identity sync=true ! rtpjpegpay

multifilesrc neither timestamps nor paces its buffers, and jpegparse (1.22) does not timestamp
them from the caps' framerate either. The files are all --frame-bytes long (padded with a JPEG
comment, which RTP/JPEG does not carry), so `identity datarate` stamps frame n at n / fps
seconds exactly, and `identity sync=true` holds each until that time on the pipeline clock:
every client gets --fps frames a second, as from a camera. Prints `ready` on stdout once it
listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import gi  # type: ignore[import-not-found]  # Debian's python3-gi; no stubs in our venv

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402


def launch_line(frames: Path, fps: int, frame_bytes: int) -> str:
    """The media pipeline of one path: the JPEG files, paced, cut into RTP/JPEG packets."""
    caps = f"image/jpeg,framerate={fps}/1"
    return (
        f'( multifilesrc location="{frames}/frame%03d.jpg" loop=true caps="{caps}" '
        f"! jpegparse ! identity datarate={fps * frame_bytes} ! identity sync=true "
        "! rtpjpegpay name=pay0 pt=26 )"
    )


def build(args: argparse.Namespace) -> Any:
    """The server with one shared factory per path, not yet attached to the main loop."""
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for index in range(1, args.streams + 1):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(args.frames, args.fps, args.frame_bytes))
        factory.set_shared(True)
        mounts.add_factory(f"/cam{index}", factory)
    return server


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", type=Path, required=True, help="folder of frameNNN.jpg")
    parser.add_argument("--streams", type=int, required=True, help="paths /cam1../camN")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--frame-bytes", type=int, required=True, help="size of every file")
    args = parser.parse_args()
    Gst.init(None)
    server = build(args)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.exit(f"gst_rtsp_server: cannot listen on {args.host}:{args.port}")
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
