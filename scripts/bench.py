#!/usr/bin/env python3
"""Conclave benchmarks: latency, SFU CPU, encode cost and the desktop app, on this machine.

    python3 scripts/bench.py            # build, run every case, print tables
    python3 scripts/bench.py --write    # ... and update BENCHMARKS.md

Cases (release build, everything on loopback):

- latency: one sending bot (live VP8 camera, stamped frames) and one
  receiving bot (`--no-camera --no-microphone`) through the SFU; the receiver
  reports capture->decode latency p50/p95 from the stamps, at 720p30
  (1500 kb/s) and 360p30 (600 kb/s), for the plain test pattern (what the app
  sends) and with `--sensor-noise` (codes like a webcam, spends the bitrate).
- server CPU: 3, 6 and 9 bots in `--load` mode, each publishing 720p30 video
  (a pre-encoded clip with sensor noise, ~1.5 Mb/s) and a live Opus tone, so
  the SFU forwards N*(N-1) video and N*(N-1) audio streams; plus 9 bots with
  audio only, to split the cost. Server CPU is utime+stime from
  /proc/<pid>/stat over a steady window, divided by wall time; each bot's
  summary before and after the window gives what was actually received.
- encode cost: `cargo run --release -p conclave-media --example encode_cost`.
- app: the desktop app in its real window, on an Xvfb display of its own
  (3840x2160, a free one of :90..:99): `tests/desktop_bench.rs` (an ignored
  test) starts a standalone server and N `conclave-bot --load --receive none`
  members (they publish, and receive nothing from each other), opens
  the release app through tauri-driver, joins the room and prints one
  `{"app_bench": {...}}` line: fps drawn per remote tile, the added latency
  decoded (backend) -> drawn (page), CPU and memory of the app's process tree,
  launch -> lobby and Join -> first remote frame. Three cases (1 remote tile at
  720p, 8 at 360p, 24 at 180p), each once per frame path (`--frame-paths`,
  passed to the app as CONCLAVE_FRAME_PATH), so one run gives one table with a
  row per path per case; it needs `npm run build` in ui/ first (the
  release app embeds ui/dist), which the script runs.

- devices: `tests/devices_bench.rs` (ignored tests) in release, with
  PulseAudio (started if it is not running) and an Xvfb display of its own at
  1920x1080: mouth-to-ear audio latency (beeps into a PulseAudio null sink,
  captured by one bot's `--microphone`, played by another bot's `--speaker`
  into a second null sink; both monitors recorded and timed on one clock) and
  screen share of the display at 1080p (an xterm with still text, then
  scrolling at 50 lines/s): frames and bitrate the receiver got.

Others may share the machine (builds): before each case the script waits
until it is quiet, measures what other processes used during the case, and
repeats a case they disturbed (keeping the least disturbed attempt). The app
cases only wait for a quiet machine: their bots are started by the test, so
the script cannot tell them from other processes.

Python 3 standard library only.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "target" / "release" / "conclave-server"
BOT = ROOT / "target" / "release" / "conclave-bot"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BUILD = ["cargo", "build", "--release", "-p", "conclave-server", "-p", "conclave-bot"]
BUILD_EXAMPLE = ["cargo", "build", "--release", "-p", "conclave-media", "--example", "encode_cost"]
ENCODE_COST = ["cargo", "run", "--release", "-q", "-p", "conclave-media", "--example",
               "encode_cost"]
UI = ROOT / "ui"
UI_BUILD = ["npm", "run", "build"]  # in ui/: the release app embeds ui/dist
APP_BUILD = ["cargo", "build", "--release", "--locked", "-p", "conclave", "-p", "conclave-server",
             "-p", "conclave-bot"]
APP_BUILD_TEST = ["cargo", "test", "--release", "--locked", "--test", "desktop_bench", "--no-run"]
APP_TEST = ["cargo", "test", "--release", "--locked", "--test", "desktop_bench", "--",
            "--ignored", "--nocapture"]
DEVICES_BUILD_TEST = ["cargo", "test", "--release", "--locked", "--test", "devices_bench",
                      "--no-run"]
DEVICES_TEST = ["cargo", "test", "--release", "--locked", "--test", "devices_bench", "--",
                "--ignored", "--nocapture", "--test-threads=1"]
DEVICES_SCREEN = "1920x1080x24"
MOUTH_TO_EAR_P50_TARGET_MS = 80.0
BEGIN = "<!-- bench.py:begin -->"
END = "<!-- bench.py:end -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

# (label, width, height, fps, kb/s, sensor noise). The plain pattern is what
# the app sends today and codes far below its bitrate; with sensor noise it
# codes like a webcam and spends the bitrate.
LATENCY_CASES = [
    ("720p30", 1280, 720, 30, 1500, False),
    ("720p30", 1280, 720, 30, 1500, True),
    ("360p30", 640, 360, 30, 600, False),
    ("360p30", 640, 360, 30, 600, True),
]
LATENCY_P50_TARGET_MS = 30.0
CPU_TARGET_PCT = 30.0
CPU_TARGET_MEMBERS = 9
# Simulcast may cost the 9-member server at most a fifth more than the
# one-layer figure measured before it (50% of one core).
SIMULCAST_CPU_LIMIT_PCT = 60.0
LOAD_VIDEO = (1280, 720, 30, 1500)

# Desktop app: (case, remote members, stream WxH, window WxH). The window is
# sized so the tiles come out at about the stream's size.
# The targets per case: every remote tile's fps at least this, and every
# remote tile's p50 added latency at most this (None: no latency target).
APP_CASES = [
    ("1 tile 720p", 1, "1280x720", "2640x900", 29.0, 15.0),
    ("9 tiles 360p", 8, "640x360", "2000x1250", 29.0, 20.0),
    ("25 tiles 180p", 24, "320x180", "1700x1060", 25.0, None),
]
# The frame paths the app can run (`CONCLAVE_FRAME_PATH`, see FramePath in
# src-tauri/src/api.rs); each case runs once per path. The summary's rows are
# the default's, the path the app ships.
APP_FRAME_PATHS = ["websocket-i420-webgl", "websocket-rgba-2d", "channel-rgba-2d"]
APP_DEFAULT_FRAME_PATH = "websocket-rgba-2d"
APP_SCREEN = "3840x2160x24"
APP_DISPLAYS = range(90, 100)
APP_FPS = 30  # what the bots send
APP_TARGET_TILES = 9  # the CPU and memory targets are for the 9-member room
APP_CPU_TARGET_PCT = 100.0  # of one core, the whole process tree
APP_MEMORY_TARGET_MB = 350.0  # PSS summed over the process tree
APP_STARTUP_TARGET_MS = 1000.0  # launch -> lobby, Join -> first remote frame (release)


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine ---


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine():
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, cwd=ROOT)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return {
        "nproc": int(nproc) if nproc.isdigit() else NCPU,
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "rustc": rustc.stdout.strip(),
        "commit": head + (" with uncommitted changes" if dirty else ""),
    }


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # the name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_cpu_s():
    """(busy, total) CPU seconds of the whole machine, summed over cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already in user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def busy_pct(before, after):
    """Machine CPU between two `machine_cpu_s` readings, in % of one core."""
    return (after[0] - before[0]) / (after[1] - before[1]) * NCPU * 100


def wait_for_quiet(limit_pct, max_wait_s):
    """Wait until other processes use at most `limit_pct` of one core."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_cpu_s()
        time.sleep(2.0)
        busy = busy_pct(before, machine_cpu_s())
        if busy <= limit_pct:
            return
        if time.monotonic() > deadline:
            log(f"  machine still busy ({busy:.0f}% of a core) after {max_wait_s:.0f} s; going on")
            return
        log(f"  machine busy ({busy:.0f}% of a core used by others), waiting...")
        time.sleep(5)


class Cpu:
    """CPU used by our processes and by the whole machine since creation."""

    def __init__(self, procs):
        self.t = time.monotonic()
        self.machine = machine_cpu_s()
        self.ours = {p.pid: proc_cpu_s(p.pid) for p in procs}

    @staticmethod
    def used(pid, since):
        try:
            return proc_cpu_s(pid) - since.get(pid, 0.0)
        except FileNotFoundError:
            return 0.0

    def others_pct(self, procs):
        """% of one core used by processes not in `procs` since creation."""
        wall = time.monotonic() - self.t
        ours = sum(self.used(p.pid, self.ours) for p in procs)
        return max(0.0, busy_pct(self.machine, machine_cpu_s()) - ours / wall * 100)


# -------------------------------------------------------------- processes ---


class Proc:
    """A child printing JSON lines on stdout, read by a thread."""

    def __init__(self, name, argv, logdir, stdin=False):
        self.name = name
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.stderr = open(logdir / f"{name}.stderr", "w")
        self.proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self.cond:
                self.lines.append((time.monotonic(), value))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, predicate, timeout, start=0):
        """The first line (index >= start) matching `predicate`: (index, time, value)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    at, value = self.lines[i]
                    if predicate(value):
                        return i, at, value
                left = deadline - time.monotonic()
                if self.eof:
                    raise RuntimeError(f"{self.name}: exited without the expected line")
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no matching line within {timeout} s")
                self.cond.wait(min(left, 0.5))

    def count(self, predicate):
        with self.cond:
            return sum(1 for _, v in self.lines if predicate(v))

    def send(self, value):
        self.proc.stdin.write(json.dumps(value) + "\n")
        self.proc.stdin.flush()

    def command(self, cmd, key, timeout=10):
        """Sends a command; returns (time, value) of the next line holding `key`."""
        with self.cond:
            start = len(self.lines)
        self.send({"cmd": cmd})
        _, at, value = self.wait_for(lambda v: key in v, timeout, start)
        return at, value[key]

    def stop(self, timeout=10):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"  {self.name} did not exit, killing pid {self.pid}")
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def start_server(logdir, tag, tls=None):
    """The server; with `tls` (from `test_certificate`), serving wss://."""
    argv = [SERVER, "--listen", "127.0.0.1:0"]
    if tls:
        argv += ["--tls-cert", tls["cert"], "--tls-key", tls["key"]]
    server = Proc(f"server-{tag}", argv, logdir)
    _, _, value = server.wait_for(lambda v: "listening" in v, 15)
    return server, value["listening"]


def stop_server(server):
    if server.proc.poll() is None:
        server.proc.terminate()
    server.stop()


def bot_argv(url, room, name, *extra):
    return [BOT, "--server", url, "--room", room, "--name", name, *extra]


def is_event(name):
    return lambda v: v.get("event") == name


def leave_all(bots):
    for bot in bots:
        if bot.proc.poll() is None:
            try:
                bot.send({"cmd": "leave"})
                bot.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
    for bot in bots:
        bot.stop(15)


# ---------------------------------------------------------------- latency ---


def run_latency(label, width, height, fps, kbps, noise, seconds, logdir):
    content = "sensor noise" if noise else "plain pattern"
    log(f"latency {label}, {content}: {width}x{height}@{fps} {kbps} kb/s, {seconds:.0f} s")
    tag = f"{label}-{'noise' if noise else 'plain'}"
    server, url = start_server(logdir, f"latency-{tag}")
    room = f"latency-{tag}"
    receiver = Proc(
        f"latency-{tag}-receiver",
        bot_argv(url, room, "receiver", "--no-camera", "--no-microphone", "--commands"),
        logdir,
        stdin=True,
    )
    sender = None
    try:
        receiver.wait_for(is_event("room.joined"), 20)
        cpu = Cpu([server, receiver])
        sender = Proc(
            f"latency-{tag}-sender",
            bot_argv(url, room, "sender", "--width", width, "--height", height, "--fps", fps,
                     "--bitrate-kbps", kbps, "--no-microphone", "--duration", seconds,
                     *(["--sensor-noise"] if noise else [])),
            logdir,
        )
        sender.wait_for(lambda v: "summary" in v, seconds + 60)
        others = cpu.others_pct([server, receiver, sender])
        sender.stop()
        _, summary = receiver.command("summary", "summary")
    finally:
        leave_all([b for b in (receiver, sender) if b])
        stop_server(server)
    remote = next((m for m in summary.values() if m.get("name") == "sender"), None)
    if not remote or "camera_latency_ms" not in remote:
        raise RuntimeError(f"latency {tag}: the receiver decoded no stamped frames: {summary}")
    latency = remote["camera_latency_ms"]
    return {
        "case": label,
        "content": content,
        "width": width,
        "height": height,
        "fps": fps,
        "kbps": kbps,
        "seconds": seconds,
        "p50_ms": latency["p50"],
        "p95_ms": latency["p95"],
        "samples": latency["n"],
        "frames_decoded": remote.get("camera_frames", 0),
        "decode_errors": remote.get("camera_decode_errors", 0),
        "received_kbps": remote.get("camera_bytes", 0) * 8 / seconds / 1000,
        "others_cpu_pct": others,
    }


# ------------------------------------------------------------- server CPU ---


def snapshot(server, bots):
    """Server, bot and machine CPU now, and each bot's summary (with its arrival time)."""
    snap = {
        "t": time.monotonic(),
        "server": proc_cpu_s(server.pid),
        "bots": sum(proc_cpu_s(b.pid) for b in bots),
        "machine": machine_cpu_s(),
    }
    snap["summaries"] = [b.command("summary", "summary") for b in bots]
    return snap


def start_load_bots(url, room, members, video, logdir, tag, extra=(), layers=3):
    width, height, fps, kbps = LOAD_VIDEO
    media = (["--width", width, "--height", height, "--fps", fps, "--bitrate-kbps", kbps,
              "--layers", str(layers)]
             if video else ["--no-camera"])
    return [Proc(f"{tag}-bot{i}", bot_argv(url, room, f"load{i}", "--load", "--commands",
                                           *media, *extra),
                 logdir, stdin=True)
            for i in range(members)]


def test_certificate(logdir):
    """A self-signed P-256 certificate for 127.0.0.1 (openssl), and its SHA-256 for --pin-sha256."""
    cert, key = logdir / "bench-cert.pem", logdir / "bench-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "der"],
                         check=True, capture_output=True).stdout
    return {"cert": str(cert), "key": str(key), "fingerprint": hashlib.sha256(der).hexdigest()}


def run_cpu(members, video, window, settle, logdir, tls=None, layers=3):
    width, height, fps, kbps = LOAD_VIDEO
    what = f"{width}x{height}@{fps} {kbps} kb/s video in {layers} layer(s) + audio" if video else "audio only"
    log(f"server CPU, {members} members, {what}{', signaling over TLS' if tls else ''}: load bots")
    tag = f"cpu-{members}-{'av' if video else 'audio'}-l{layers}{'-tls' if tls else ''}"
    server, url = start_server(logdir, tag, tls)
    pin = ["--pin-sha256", tls["fingerprint"]] if tls else []
    bots = []
    try:
        bots = start_load_bots(url, tag, members, video, logdir, tag, pin, layers)
        # One clip per layer, the full-size one first (the bots join after the last).
        clips = ([b.wait_for(lambda v: "load_clip" in v, 180)[2]["load_clip"] for b in bots]
                 if video else [])
        for b in bots:
            b.wait_for(is_event("room.joined"), 60)
        # Everyone sees everyone's tracks, and media flows.
        want = (2 if video else 1) * (members - 1)
        deadline = time.monotonic() + 90
        while True:
            started = [b.count(is_event("track.started")) for b in bots]
            if all(s >= want for s in started):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"tracks started per bot {started}, wanted {want} each")
            time.sleep(0.5)
        time.sleep(settle)
        key = "camera_packets" if video else "microphone_packets"
        for b in bots:
            _, summary = b.command("summary", "summary")
            flowing = [m for m in summary.values() if m.get(key, 0) > 0]
            if len(flowing) < members - 1:
                raise RuntimeError(f"{b.name}: media from only {len(flowing)} members")
        before = snapshot(server, bots)
        time.sleep(window)
        after = snapshot(server, bots)
    finally:
        leave_all(bots)
        stop_server(server)

    wall = after["t"] - before["t"]
    server_pct = (after["server"] - before["server"]) / wall * 100
    bots_pct = (after["bots"] - before["bots"]) / wall * 100
    machine_pct = busy_pct(before["machine"], after["machine"])
    streams = []  # one per (receiver, sender): what arrived during the window
    for (t0, s0), (t1, s1) in zip(before["summaries"], after["summaries"]):
        seconds = t1 - t0
        for member, m1 in s1.items():
            m0 = s0.get(member, {})

            def rate(key, m0=m0, m1=m1, seconds=seconds):
                return (m1.get(key, 0) - m0.get(key, 0)) / seconds

            streams.append({
                "video_kbps": rate("camera_bytes") * 8 / 1000,
                "video_fps": rate("camera_frames_received"),
                "video_pps": rate("camera_packets"),
                "audio_kbps": rate("microphone_bytes") * 8 / 1000,
                "audio_pps": rate("microphone_packets"),
            })

    def mean(key):
        return sum(s[key] for s in streams) / len(streams)

    forwarded = members * (members - 1)
    out_pps = (mean("video_pps") + mean("audio_pps")) * forwarded
    return {
        "members": members,
        "video": video,
        "layers": layers if video else 0,
        "tls": bool(tls),
        "forwarded_video": forwarded if video else 0,
        "forwarded_audio": forwarded,
        "window_s": wall,
        "server_cpu_pct": server_pct,
        "server_cpu_pct_per_stream_pair": server_pct / forwarded,
        "server_us_per_forwarded_packet": server_pct / 100 * 1e6 / out_pps,
        "forwarded_pps": out_pps,
        "bots_cpu_pct": bots_pct,
        "machine_busy_pct": machine_pct,
        "others_cpu_pct": max(0.0, machine_pct - server_pct - bots_pct),
        "streams_measured": len(streams),
        "clip_kbps": sum(c["kbps"] for c in clips) / len(clips) if clips else 0.0,
        "video_kbps_mean": mean("video_kbps"),
        "video_kbps_min": min(s["video_kbps"] for s in streams),
        "video_fps_mean": mean("video_fps"),
        "video_fps_min": min(s["video_fps"] for s in streams),
        "video_pps_mean": mean("video_pps"),
        "audio_kbps_mean": mean("audio_kbps"),
        "audio_pps_mean": mean("audio_pps"),
        "received_mbps_per_bot": mean("video_kbps") * (members - 1) / 1000,
        "server_out_mbps": (mean("video_kbps") + mean("audio_kbps")) * forwarded / 1000,
    }


def run_perf(members, seconds, logdir):
    """Where the server spends its time with `members` load members (needs perf)."""
    log(f"profiling the server with {members} load members ({seconds} s)")
    server, url = start_server(logdir, f"perf-{members}")
    bots = []
    data = logdir / "perf.data"
    try:
        bots = start_load_bots(url, "perf", members, True, logdir, "perf")
        for b in bots:
            b.wait_for(is_event("room.joined"), 180)
        time.sleep(10)
        subprocess.run(["perf", "record", "-F", "499", "-g", "-o", data, "-p", str(server.pid),
                        "--", "sleep", str(seconds)], capture_output=True, check=True)
    finally:
        leave_all(bots)
        stop_server(server)

    def report(*args):
        out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                              "-g", "none", *args], capture_output=True, text=True).stdout
        # Drop perf's empty trailing columns.
        return [re.sub(r"(\s+-)*\s*$", "", line) for line in out.splitlines()
                if line.strip() and not line.startswith("#")]

    return "\n".join(report("--sort", "dso", "--percent-limit", "0.5") + [""]
                     + report("--sort", "dso,symbol", "--percent-limit", "1"))


# ------------------------------------------------------------ encode cost ---


def run_encode_cost():
    log("encode cost: " + " ".join(ENCODE_COST))
    out = subprocess.run(ENCODE_COST, cwd=ROOT, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def least_disturbed(run, attempts, max_others, quiet_pct, quiet_wait):
    """Runs a case until others used at most `max_others` % of a core during it."""
    best = None
    for attempt in range(attempts):
        wait_for_quiet(quiet_pct, quiet_wait)
        result = run()
        if best is None or result["others_cpu_pct"] < best["others_cpu_pct"]:
            best = result
        if result["others_cpu_pct"] <= max_others:
            break
        log(f"  other processes used {result['others_cpu_pct']:.0f}% of a core meanwhile"
            + ("; again" if attempt + 1 < attempts else "; keeping the least disturbed run"))
    best["attempts"] = attempt + 1
    return best


# ------------------------------------------------------------ desktop app ---


def start_xvfb(logdir, screen=APP_SCREEN):
    """An Xvfb of our own on a free display of :90..:99: (process, ":N")."""
    for n in APP_DISPLAYS:
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        display = f":{n}"
        argv = ["Xvfb", display, "-screen", "0", screen, "-nolisten", "tcp"]
        log("starting " + " ".join(argv))
        with open(logdir / f"xvfb-{n}.stderr", "w") as err:
            xvfb = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
        deadline = time.monotonic() + 15
        while xvfb.poll() is None and time.monotonic() < deadline:
            if subprocess.run(["xdpyinfo", "-display", display],
                              capture_output=True).returncode == 0:
                return xvfb, display
            time.sleep(0.1)
        # Exited (someone took the display meanwhile) or never answered: the next one.
        stop_xvfb(xvfb)
    raise RuntimeError(f"no Xvfb display could be started on :{APP_DISPLAYS[0]}.."
                       f":{APP_DISPLAYS[-1]} (see {logdir}/xvfb-*.stderr)")


def stop_xvfb(xvfb):
    if xvfb.poll() is None:
        xvfb.terminate()
    try:
        xvfb.wait(10)
    except subprocess.TimeoutExpired:
        log(f"  Xvfb did not exit, killing pid {xvfb.pid}")
        xvfb.kill()
        xvfb.wait()


def parse_lines(stdout, key):
    """The test's `{"<key>": {...}}` lines (libtest may print a test's name before one)."""
    found = []
    for line in stdout.splitlines():
        at = line.find('{"' + key + '"')
        if at >= 0:
            value, _ = json.JSONDecoder().raw_decode(line[at:])
            found.append(value[key])
    return found


def parse_app_bench(stdout):
    found = parse_lines(stdout, "app_bench")
    return found[0] if found else None


def run_app(case, frame_path, seconds, display, logdir):
    label, bots, stream, window, fps_target, p50_target = case
    log(f"app {label}, frame path {frame_path}: {bots} load members sending {stream}, "
        f"window {window}, {seconds:.0f} s (DISPLAY={display})")
    tag = "app-" + label.replace(" ", "-") + "-" + frame_path
    env = dict(os.environ, DISPLAY=display, BENCH_BOTS=str(bots), BENCH_STREAM=stream,
               BENCH_WINDOW=window, BENCH_SECONDS=f"{seconds:.0f}",
               CONCLAVE_FRAME_PATH=frame_path)
    with open(logdir / f"{tag}.stderr", "w") as err:
        # A session of its own, so a hung case can be ended with everything it
        # started (tauri-driver, the app and its WebKit processes, the bots).
        test = subprocess.Popen(APP_TEST, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        try:
            stdout, _ = test.communicate(timeout=seconds + 600)
        except subprocess.TimeoutExpired:
            log(f"  the test did not finish, killing its process group {test.pid}")
            os.killpg(test.pid, signal.SIGKILL)
            stdout, _ = test.communicate()
    (logdir / f"{tag}.stdout").write_text(stdout)
    value = parse_app_bench(stdout)
    if value is None:
        raise RuntimeError(f"app {label}: no app_bench line (exit {test.returncode}); "
                           f"see {logdir}/{tag}.stderr and .stdout")
    if test.returncode != 0:
        log(f"  the test exited with {test.returncode} after its app_bench line; keeping it")
    if value.get("frame_path") != frame_path:
        raise RuntimeError(f"app {label}: asked for frame path {frame_path}, the app ran "
                           f"{value.get('frame_path')}")
    return {"case": label, "bots": bots, "fps_target": fps_target,
            "p50_target_ms": p50_target, **value}


# ---------------------------------------------------------------- devices ---


def ensure_pulseaudio():
    """PulseAudio as scripts/test.sh runs it, unless one already answers."""
    if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
        return
    log("starting PulseAudio: pulseaudio -D --exit-idle-time=-1")
    subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1"], check=True)
    time.sleep(1)


def run_devices(seconds, display, logdir):
    log(f"devices: mouth-to-ear latency and 1080p screen share, {seconds:.0f} s each "
        f"(DISPLAY={display})")
    env = dict(os.environ, DISPLAY=display, BENCH_SECONDS=f"{seconds:.0f}")
    with open(logdir / "devices.stderr", "w") as err:
        test = subprocess.run(DEVICES_TEST, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=4 * seconds + 600)
    (logdir / "devices.stdout").write_text(test.stdout)
    audio, screens = parse_lines(test.stdout, "audio_latency"), parse_lines(test.stdout,
                                                                             "screen_share")
    if test.returncode != 0 or len(audio) != 3 or len(screens) != 2:
        raise RuntimeError(f"devices: the test failed (exit {test.returncode}); "
                           f"see {logdir}/devices.stderr and .stdout")
    # The first case is the microphone unprocessed; the others add the app's processing.
    return {"audio_latency": audio[0], "audio_latency_cases": audio, "screen_share": screens,
            "seconds": seconds}


def devices_tables(d, command):
    a = d["audio_latency"]
    out = [
        "### Devices: mouth-to-ear audio latency, PulseAudio in -> SFU -> PulseAudio out",
        "",
        f"Reproduce: `{command}`.",
        "",
        "| microphone | beeps sent / heard | p50 ms | p95 ms | min ms | max ms | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    # The processing may add at most 10 ms to the unprocessed p50 (issue 14).
    for c in d.get("audio_latency_cases", [a]):
        target = (f"p50 <= {MOUTH_TO_EAR_P50_TARGET_MS:.0f} ms: "
                  f"{verdict(c['p50_ms'] <= MOUTH_TO_EAR_P50_TARGET_MS)}")
        if c is not a and c.get("case", "").startswith("processed"):
            target = (f"at most 10 ms over unprocessed: "
                      f"{verdict(c['p50_ms'] <= a['p50_ms'] + 10.0)}")
        out.append(f"| {c.get('case', 'unprocessed, 20 ms frames')} "
                   f"| {c['beeps_sent']} / {c['beeps_heard']} "
                   f"| {c['p50_ms']:.1f} | {c['p95_ms']:.1f} | {c['min_ms']:.1f} "
                   f"| {c['max_ms']:.1f} | {target} |")
    out += [
        "",
        "### Devices: screen share of a 1920x1080 X display (10 fps, 1500 kb/s, VP8 screen "
        "content)",
        "",
        "| screen | received size | frames/s | kb/s over the window | kb/s, last half "
        "| kb/s each second |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in d["screen_share"]:
        size = "x".join(str(v) for v in r["size"]) if r.get("size") else "-"
        series = " ".join(f"{v:.0f}" for v in r["per_second_kbps"])
        out.append(f"| {r['case']} | {size} | {r['fps']:.1f} | {r['kbps']:.0f} "
                   f"| {r['last_half_kbps']:.0f} | {series} |")
    return out + [""]


# ---------------------------------------------------------------- reports ---


def verdict(ok):
    return "**met**" if ok else "**MISSED**"


def verdicts(cases):
    """One verdict for [(case, ok)], or which cases met and which missed."""
    if len({ok for _, ok in cases}) == 1:
        return verdict(cases[0][1])
    return "; ".join(f"{verdict(ok)}: " + ", ".join(c for c, o in cases if o == ok)
                     for ok in (True, False))


def num(value, spec=".1f"):
    """A figure the app test may report as null (no tile drew)."""
    return "-" if value is None else format(value, spec)


def app_frame_target(r):
    target = f"every remote tile >= {r['fps_target']:.0f} fps (of {APP_FPS})"
    if r.get("p50_target_ms") is not None:
        target += f", p50 <= {r['p50_target_ms']:.0f} ms"
    return target


def app_frame_ok(r):
    """The case's fps in every remote tile, and every tile's p50 within its target."""
    fps_min, p50_max = r["fps"].get("min"), r["latency_p50_ms"].get("max_of_tiles")
    p50_target = r.get("p50_target_ms")
    return (r["remote_tiles"] == r["tiles"] - 1
            and fps_min is not None and fps_min >= r["fps_target"]
            and (p50_target is None or (p50_max is not None and p50_max <= p50_target)))


def app_frame_figures(r):
    fps, p50 = r["fps"], r["latency_p50_ms"]
    drew = ("" if r["remote_tiles"] == r["tiles"] - 1
            else f"; only {r['remote_tiles']} of {r['tiles'] - 1} remote tiles drew")
    return (f"fps median {num(fps.get('median'))} / min {num(fps.get('min'))}; added latency p50 "
            f"median {num(p50.get('median_of_tiles'))} ms / max {num(p50.get('max_of_tiles'))} ms"
            + drew)


APP_STARTUP = [("launch_to_lobby_ms", "launch -> lobby"),
               ("join_to_first_remote_frame_ms", "Join -> first remote frame")]


def app_summary(apps):
    """The app's rows of the summary table: the shipped frame path's."""
    rows = []
    shipped = [r for r in apps if r.get("frame_path", APP_DEFAULT_FRAME_PATH)
               == APP_DEFAULT_FRAME_PATH]
    apps = shipped or apps
    for r in apps:
        rows.append(f"| App frame path ({r.get('frame_path', '?')}), {r['case']} "
                    f"({r['tiles']} tiles incl. self view) "
                    f"| {app_frame_figures(r)} | {app_frame_target(r)} "
                    f"| {verdict(app_frame_ok(r))} |")
    room = next((r for r in apps if r["tiles"] == APP_TARGET_TILES), None)
    if room:
        cpu = room["cpu_percent_of_one_core"]
        rows.append(f"| App CPU, {room['case']} ({room['tiles'] - 1} remote members) "
                    f"| {cpu['total']:.1f}% of one core (backend {cpu['backend']:.1f}%, "
                    f"WebKit {cpu['webkit']:.1f}%) | < {APP_CPU_TARGET_PCT:.0f}% "
                    f"| {verdict(cpu['total'] < APP_CPU_TARGET_PCT)} |")
        rows.append(f"| App memory, {room['case']} | {room['pss_mb_total']:.1f} MB PSS "
                    f"(RSS {room['rss_mb_total']:.1f} MB, shared pages counted per process) "
                    f"| < {APP_MEMORY_TARGET_MB:.0f} MB resident (PSS) "
                    f"| {verdict(room['pss_mb_total'] < APP_MEMORY_TARGET_MB)} |")
    for key, what in APP_STARTUP:
        cases = [r for r in apps if r.get(key) is not None]
        if cases:
            figures = "; ".join(f"{r['case']}: {r[key]:.0f} ms" for r in cases)
            ok = [(r["case"], r[key] < APP_STARTUP_TARGET_MS) for r in cases]
            rows.append(f"| App {what} | {figures} | < {APP_STARTUP_TARGET_MS / 1000:.0f} s "
                        f"(release build) | {verdicts(ok)} |")
    return rows


def app_tables(apps, commands=None, xvfb=None):
    """The app's section: one row per case, then memory per process."""
    out = [
        "### Desktop app: its real window under Xvfb, remote members in load mode",
        "",
        "Per case: N `conclave-bot --load` members sending the stream size at 30 fps to a "
        "standalone server on this machine, the app joined as one more member; figures over "
        "the measuring window after 4 s of warm-up. *Added latency* = decoded in the backend "
        "-> draw call issued in the page, p50 per remote tile. CPU in % of one core: the "
        "app's backend process / its WebKit processes / total. Memory summed over the app's "
        "process tree.",
        "",
        "| case | frame path | tiles (incl. self) | drawn frame sizes | fps (median / min) "
        "| added latency p50 ms (median of tiles / max) | frame target "
        "| app CPU % (backend / webkit / total) | memory MB (PSS / RSS total) "
        "| launch -> lobby ms | Join -> first remote frame ms | remote tiles that drew |",
        "|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in apps:
        fps, p50 = r["fps"], r["latency_p50_ms"]
        cpu = r["cpu_percent_of_one_core"]
        case = f"{r['case']}: {r['stream']} stream, {r['window']} window"
        if r.get("seconds"):
            case += f", {r['seconds']:.0f} s"
        sizes = ", ".join(f"{size}: {n}" for size, n in r["drawn_frame_sizes"].items()) or "-"
        out.append(
            f"| {case} | {r.get('frame_path', '-')} | {r['tiles']} | {sizes} "
            f"| {num(fps.get('median'))} / {num(fps.get('min'))} "
            f"| {num(p50.get('median_of_tiles'))} / {num(p50.get('max_of_tiles'))} "
            f"| {verdict(app_frame_ok(r))}: {app_frame_target(r)} "
            f"| {cpu['backend']:.1f} / {cpu['webkit']:.1f} / {cpu['total']:.1f} "
            f"| {r['pss_mb_total']:.1f} / {r['rss_mb_total']:.1f} "
            f"| {num(r.get('launch_to_lobby_ms'), '.0f')} "
            f"| {num(r.get('join_to_first_remote_frame_ms'), '.0f')} "
            f"| {r['remote_tiles']} of {r['tiles'] - 1} |")
    probes = [r["webcodecs"] for r in apps if r.get("webcodecs")]
    if probes:
        p = probes[0]
        same = all(q == p for q in probes)
        if p.get("vp8_supported"):
            found = "`VideoDecoder` exists and `isConfigSupported({codec: 'vp8'})` says supported"
        elif p.get("video_decoder") == "undefined":
            found = "`typeof VideoDecoder` is `\"undefined\"`: this webview has no WebCodecs"
        else:
            found = (f"`VideoDecoder` exists but VP8 is not supported ("
                     f"{p.get('vp8_error') or 'isConfigSupported: supported false'})")
        out += ["", f"WebCodecs (VP8 decoded in the page): {found}, in the app's webview "
                f"(user agent `{p.get('user_agent', '?')}`), checked through WebDriver in "
                f"{'every' if same else 'the first'} run above"
                + ("" if same else ", and not the same in every run") + "."]
    per_process = [r for r in apps if r.get("memory")]
    if per_process:
        out += ["", "Memory per process, PSS / RSS MB: " + "; ".join(
            f"{r['case']}: " + ", ".join(f"{m['process']} {m['pss_mb']:.1f} / {m['rss_mb']:.1f}"
                                         for m in r["memory"])
            for r in per_process) + "."]
    if commands:
        out += ["", f"Each case and frame path: `CONCLAVE_FRAME_PATH=PATH BENCH_BOTS=N BENCH_STREAM=WxH BENCH_WINDOW=WxH "
                f"BENCH_SECONDS=S {commands}`"
                + (f" with DISPLAY on `{xvfb}`" if xvfb else "") + "."]
    out.append("")
    return out


def layers_label(r):
    return "simulcast (3 layers)" if r.get("layers", 1) > 1 else "one layer"


def simulcast_cost(rows):
    """The simulcast and one-layer cases of the same size, from one run, if both ran."""
    for three in (r for r in rows if r["video"] and r.get("layers", 1) > 1):
        one = next((r for r in rows if r["video"] and r.get("layers", 1) == 1
                    and r["members"] == three["members"]), None)
        if one:
            return one, three
    return None


def summary(results):
    """The headline figures against their targets."""
    rows = []
    for label in dict.fromkeys(r["case"] for r in results.get("latency", [])):
        cases = [r for r in results["latency"] if r["case"] == label]
        figures = "; ".join(f"{r['content']}: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms"
                            for r in cases)
        if label == "720p30":
            ok = all(r["p50_ms"] <= LATENCY_P50_TARGET_MS for r in cases)
            rows.append(f"| Latency {label}, capture -> decoded | {figures} "
                        f"| p50 <= {LATENCY_P50_TARGET_MS:.0f} ms | {verdict(ok)} |")
        else:
            rows.append(f"| Latency {label}, capture -> decoded | {figures} | - | - |")
    for r in results.get("cpu", []):
        if r["members"] == CPU_TARGET_MEMBERS and r["video"]:
            rows.append(f"| Server CPU, {r['members']} members, {layers_label(r)}, "
                        f"{r['forwarded_video']} video + "
                        f"{r['forwarded_audio']} audio streams forwarded "
                        f"| {r['server_cpu_pct']:.1f}% of one core "
                        f"| < {CPU_TARGET_PCT:.0f}% | {verdict(r['server_cpu_pct'] < CPU_TARGET_PCT)} |")
    simulcast = simulcast_cost(results.get("cpu", []))
    if simulcast:
        one, three = simulcast
        ok = three["server_cpu_pct"] <= SIMULCAST_CPU_LIMIT_PCT
        rows.append(f"| Server CPU with simulcast vs one layer, {three['members']} members "
                    f"| {three['server_cpu_pct']:.1f}% vs {one['server_cpu_pct']:.1f}% "
                    f"(x{three['server_cpu_pct'] / one['server_cpu_pct']:.2f}) "
                    f"| <= {SIMULCAST_CPU_LIMIT_PCT:.0f}% | {verdict(ok)} |")
    for r in results.get("encode_cost", []):
        if r["resolution"] == "1280x720" and r["fps"] == 30:
            share = next(v for k, v in r.items() if k.startswith("share_of_one_core"))
            rows.append(f"| Encode cost, 720p30 {r['content']} | {share * 100:.1f}% of one core "
                        f"at {r['bitrate_kbps']:.0f} kb/s | - | - |")
    rows += app_summary(results.get("app", []))
    if results.get("devices"):
        a = results["devices"]["audio_latency"]
        ok = a["p50_ms"] <= MOUTH_TO_EAR_P50_TARGET_MS
        rows.append(f"| Mouth-to-ear audio, PulseAudio -> SFU -> PulseAudio | p50 "
                    f"{a['p50_ms']:.1f} ms, p95 {a['p95_ms']:.1f} ms "
                    f"| p50 <= {MOUTH_TO_EAR_P50_TARGET_MS:.0f} ms | {verdict(ok)} |")
        for r in results["devices"]["screen_share"]:
            rows.append(f"| Screen share 1080p, {r['case']} | {r['fps']:.1f} fps, "
                        f"{r['kbps']:.0f} kb/s (last half {r['last_half_kbps']:.0f}) | - | - |")
    if not rows:
        return []
    return ["### Summary", "", "| figure | result | target | |", "|---|---|---|---|", *rows, ""]


def reproduce(command):
    """The command line of a run without the options that only say where output goes."""
    words, out = command.split(), []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in ("--json", "--from-json"):
            skip = True
        elif word not in ("--write", "--skip-build") and not word.startswith(("--json=",
                                                                              "--from-json=")):
            out.append(word)
    return " ".join(out)


def markdown(results):
    m = results["machine"]
    out = [
        f"Run started {results['date']} on `nproc` = {m['nproc']} cores, CPU \"{m['cpu']}\" "
        f"(from /proc/cpuinfo), Linux {m['kernel']}, {m['rustc']}"
        + (f", commit {m['commit']}" if m.get("commit") else "")
        + f". Reproduce: `{reproduce(results['command'])}`.",
        "",
    ]
    out += summary(results)
    if results.get("latency"):
        out += [
            "### Latency: capture -> decoded frame at the receiver, through the SFU",
            "",
            "| case | camera content | p50 ms | p95 ms | target | stamped / decoded frames "
            "| received kb/s | others' CPU % |",
            "|---|---|---:|---:|---|---:|---:|---:|",
        ]
        for r in results["latency"]:
            target = (f"p50 <= {LATENCY_P50_TARGET_MS:.0f} ms: "
                      f"{verdict(r['p50_ms'] <= LATENCY_P50_TARGET_MS)}"
                      if r["case"] == "720p30" else "-")
            out.append(f"| {r['case']} {r['kbps']} kb/s, {r['seconds']:.0f} s | {r['content']} "
                       f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {target} "
                       f"| {r['samples']} / {r['frames_decoded']} | {r['received_kbps']:.0f} "
                       f"| {r['others_cpu_pct']:.0f} |")
        out.append("")
    if results.get("cpu"):
        rows = results["cpu"]
        w, h, fps, kbps = LOAD_VIDEO
        out += [
            f"### Server CPU: N members each publishing {h}p{fps} video (~{kbps} kb/s) "
            "and Opus audio",
            "",
            "CPU in % of one core over the window. *Per pair* = per forwarded video+audio "
            "stream pair (per audio stream in the audio-only row). *Others* = CPU used by "
            "processes other than the server and the bots meanwhile.",
            "",
            "| members | forwarded video + audio | server CPU % | target | per pair % "
            "| µs per forwarded packet | video kb/s per stream (mean / min) | fps (mean / min) "
            "| audio kb/s | server out Mb/s | bots CPU % | others CPU % |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            target = (f"< {CPU_TARGET_PCT:.0f}%: {verdict(r['server_cpu_pct'] < CPU_TARGET_PCT)}"
                      if r["members"] == CPU_TARGET_MEMBERS and r["video"] else "-")
            label = f"{r['members']}" + (f", {layers_label(r)}" if r["video"] else " (audio only)")
            video = (f"{r['video_kbps_mean']:.0f} / {r['video_kbps_min']:.0f}" if r["video"]
                     else "-")
            fps_cell = (f"{r['video_fps_mean']:.1f} / {r['video_fps_min']:.1f}" if r["video"]
                        else "-")
            out.append(
                f"| {label} | {r['forwarded_video']} + {r['forwarded_audio']} "
                f"| {r['server_cpu_pct']:.1f} | {target} | {r['server_cpu_pct_per_stream_pair']:.2f} "
                f"| {r['server_us_per_forwarded_packet']:.0f} | {video} | {fps_cell} "
                f"| {r['audio_kbps_mean']:.0f} | {r['server_out_mbps']:.1f} "
                f"| {r['bots_cpu_pct']:.0f} | {r['others_cpu_pct']:.0f} |")
        av = [r for r in rows if r["video"] and r.get("layers", 1) > 1] or \
            [r for r in rows if r["video"]]
        simulcast = simulcast_cost(rows)
        if simulcast:
            one, three = simulcast
            out += ["", f"Simulcast at {three['members']} members: the server receives three "
                    f"layers of each camera and forwards one per subscriber: "
                    f"{three['server_cpu_pct']:.1f}% of one core against "
                    f"{one['server_cpu_pct']:.1f}% with one layer, in the same run "
                    f"(x{three['server_cpu_pct'] / one['server_cpu_pct']:.2f}; limit "
                    f"{SIMULCAST_CPU_LIMIT_PCT:.0f}%, today's figure + 20%)."]
        if len(av) > 1:
            first = av[0]
            ratios = "; ".join(
                f"{first['members']} -> {r['members']} members: CPU x"
                f"{r['server_cpu_pct'] / first['server_cpu_pct']:.1f} for x"
                f"{r['forwarded_video'] / first['forwarded_video']:.1f} forwarded streams, "
                f"x{r['forwarded_pps'] / first['forwarded_pps']:.1f} forwarded packets/s"
                for r in av[1:])
            out += ["", f"Scaling within this run: {ratios}."]
        audio = next((r for r in rows if not r["video"]), None)
        full = next((r for r in av if audio and r["members"] == audio["members"]), None)
        if audio and full:
            out += ["", f"Audio alone accounts for {audio['server_cpu_pct']:.1f}% of the "
                    f"{full['server_cpu_pct']:.1f}% at {full['members']} members "
                    f"({audio['forwarded_pps']:.0f} of {full['forwarded_pps']:.0f} "
                    "forwarded packets/s)."]
        if av:
            out += ["", "Load clips as encoded by the bots (mean per case): "
                    + ", ".join(f"{r['clip_kbps']:.0f} kb/s" for r in av) + "."]
        out.append("")
    if results.get("encode_cost"):
        out += [
            "### Encode cost per stream (CPU time of the encoding thread)",
            "",
            "| content | size | fps | target kb/s | achieved kb/s | encode ms/frame "
            "| share of one core | luma PSNR dB | render ms/frame |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["encode_cost"]:
            share = next(v for k, v in r.items() if k.startswith("share_of_one_core"))
            out.append(f"| {r['content']} | {r['resolution']} | {r['fps']} | {r['target_kbps']} "
                       f"| {r['bitrate_kbps']:.0f} | {r['encode_ms_per_frame']:.2f} "
                       f"| {share * 100:.1f}% | {r['luma_psnr_db']:.1f} "
                       f"| {r['render_ms_per_frame']:.2f} |")
        out += ["", f"Raw output of `{results['commands']['encode_cost']}`:", "", "```"]
        out += [json.dumps(r, separators=(",", ":")) for r in results["encode_cost"]]
        out += ["```", ""]
    if results.get("app"):
        out += app_tables(results["app"], results.get("commands", {}).get("app"),
                          results.get("app_xvfb"))
    if results.get("devices"):
        out += devices_tables(results["devices"], results.get("commands", {}).get("devices"))
    if results.get("perf"):
        out += [f"### Server profile, {results['perf_members']} load members "
                "(`perf record -g -p <server>`, share of server samples)",
                "", "```", results["perf"], "```", ""]
    return "\n".join(out)


SKELETON = f"""# Benchmarks

Generated by `python3 scripts/bench.py --write`: the section between the
markers is rewritten on every run, the rest is kept.

{BEGIN}
{END}
"""


def write_benchmarks(text):
    current = BENCHMARKS.read_text() if BENCHMARKS.exists() else SKELETON
    if BEGIN not in current or END not in current:
        current = current.rstrip() + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    BENCHMARKS.write_text(head + BEGIN + "\n" + text.rstrip() + "\n" + END + tail)
    log(f"updated {BENCHMARKS}")


# ------------------------------------------------------------------- main ---

KINDS = ["latency", "cpu", "encode", "app", "devices"]


def build(args, only):
    """What the chosen cases need. The app's build comes first: built alone, the
    server and bot may get other dependency features than next to the app, and
    the room cases keep using the binaries of their own build."""
    if "app" in only:
        log("building the UI: (cd ui && " + " ".join(UI_BUILD) + ")")
        subprocess.run(UI_BUILD, cwd=UI, check=True)
    builds = [APP_BUILD, APP_BUILD_TEST] if "app" in only else []
    if only & {"latency", "cpu", "devices"} or args.perf:
        builds.append(BUILD)
    if "devices" in only:
        builds.append(DEVICES_BUILD_TEST)
    if "encode" in only:
        builds.append(BUILD_EXAMPLE)
    for command in builds:
        log("building: " + " ".join(command))
        subprocess.run(command, cwd=ROOT, check=True)
    return builds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="run nothing: render the results saved by --json (with --write: "
                        "into BENCHMARKS.md)")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--only", choices=KINDS, action="append",
                        help="run only these cases (repeatable)")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--app-seconds", type=float, default=10,
                        help="app cases: the measuring window, seconds")
    parser.add_argument("--frame-paths", default=",".join(APP_FRAME_PATHS),
                        help="app cases: the frame paths to run each case with, comma-separated")
    parser.add_argument("--devices-seconds", type=float, default=20,
                        help="devices cases: the measuring window, seconds")
    parser.add_argument("--members", default="3,6,9", help="server CPU cases, e.g. 3,6,9")
    parser.add_argument("--audio-only-members", type=int, default=9,
                        help="also an audio-only case with this many members (0: none)")
    parser.add_argument("--single-layer-members", type=int, default=9,
                        help="also a case with this many members sending one video layer, "
                        "no simulcast (0: none)")
    parser.add_argument("--window", type=float, default=15, help="CPU window, seconds")
    parser.add_argument("--settle", type=float, default=5,
                        help="seconds after all tracks started, before the window")
    parser.add_argument("--perf", type=int, default=0, metavar="MEMBERS",
                        help="also profile the server with this many load members (needs perf)")
    parser.add_argument("--quiet", type=float, default=30, metavar="PCT",
                        help="before each case, wait until others use at most PCT%% of a core")
    parser.add_argument("--quiet-wait", type=float, default=900,
                        help="longest wait for a quiet machine, seconds")
    parser.add_argument("--max-others", type=float, default=15, metavar="PCT",
                        help="repeat a case if others used more than PCT%% of a core during it")
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--cpu-tls", action="store_true",
                        help="server CPU cases: run each again with signaling over TLS, right after")
    args = parser.parse_args()
    only = set(args.only or KINDS)
    if args.from_json:
        text = markdown(json.loads(args.from_json.read_text()))
        print(text)
        if args.write:
            write_benchmarks(text)
        return

    builds = [] if args.skip_build else build(args, only)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": " ".join(["python3", "scripts/bench.py", *sys.argv[1:]]),
        "commands": {"build": " ".join(BUILD), "encode_cost": " ".join(ENCODE_COST),
                     "app_build": "(cd ui && npm run build) && " + " && ".join(
                         " ".join(c) for c in (APP_BUILD, APP_BUILD_TEST)),
                     "app": " ".join(APP_TEST),
                     "devices": f"DISPLAY=<Xvfb at {DEVICES_SCREEN}> " + " ".join(DEVICES_TEST)},
    }
    logdir = Path(tempfile.mkdtemp(prefix="conclave-bench-"))
    log(f"logs in {logdir}")

    def measure(run):
        return least_disturbed(run, args.attempts, args.max_others, args.quiet, args.quiet_wait)

    if "latency" in only:
        results["latency"] = [
            measure(lambda case=case: run_latency(*case, args.latency_seconds, logdir))
            for case in LATENCY_CASES]
    if "cpu" in only:
        cases = [(int(n), True, 3) for n in args.members.split(",")]
        if args.single_layer_members:
            cases.append((args.single_layer_members, True, 1))
        if args.audio_only_members:
            cases.append((args.audio_only_members, False, 0))
        tls_modes = [None, test_certificate(logdir)] if args.cpu_tls else [None]
        results["cpu"] = [
            measure(lambda n=n, v=v, t=t, l=l: run_cpu(n, v, args.window, args.settle, logdir, t, l))
            for n, v, l in cases for t in tls_modes]
    if "encode" in only:
        wait_for_quiet(args.quiet, args.quiet_wait)
        results["encode_cost"] = run_encode_cost()
    if args.perf:
        wait_for_quiet(args.quiet, args.quiet_wait)
        results["perf_members"] = args.perf
        results["perf"] = run_perf(args.perf, 15, logdir)
    if "app" in only:
        if builds and builds[-1] is not APP_BUILD_TEST:
            # The room builds ran after it: link the app build's server and bot
            # again (cargo keeps both builds, so this compiles nothing). Last,
            # so the room cases and the profile ran with their own build.
            log("building: " + " ".join(APP_BUILD))
            subprocess.run(APP_BUILD, cwd=ROOT, check=True)
        xvfb, display = start_xvfb(logdir)
        results["app_xvfb"] = f"Xvfb {display} -screen 0 {APP_SCREEN} -nolisten tcp"
        try:
            results["app"] = []
            for case in APP_CASES:
                for frame_path in args.frame_paths.split(","):
                    wait_for_quiet(args.quiet, args.quiet_wait)
                    results["app"].append(
                        run_app(case, frame_path, args.app_seconds, display, logdir))
        finally:
            stop_xvfb(xvfb)

    if "devices" in only:
        ensure_pulseaudio()
        xvfb, display = start_xvfb(logdir, DEVICES_SCREEN)
        try:
            wait_for_quiet(args.quiet, args.quiet_wait)
            results["devices"] = run_devices(args.devices_seconds, display, logdir)
        finally:
            stop_xvfb(xvfb)

    text = markdown(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write:
        write_benchmarks(text)


if __name__ == "__main__":
    main()
