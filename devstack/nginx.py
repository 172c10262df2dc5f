"""nginx as the load balancer in front of several web processes, configured from deploy/."""

from __future__ import annotations

import getpass
import re
import shutil
from pathlib import Path

from devstack.processes import ROOT

TEMPLATE = ROOT / "deploy" / "nginx.conf"
_PLACEHOLDER = re.compile(r"\{(user|run_dir|servers|listen|max_body)\}")


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if not found:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx")
    return found


def render_config(*, upstreams: list[str], listen: str, run_dir: Path, max_body: str = "2m") -> str:
    values = {
        "user": getpass.getuser(),
        "run_dir": str(run_dir),
        "servers": "\n".join(f"        server {a} max_fails=1 fail_timeout=5s;" for a in upstreams),
        "listen": listen,
        "max_body": max_body,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], TEMPLATE.read_text())


def write_config(run_dir: Path, **options) -> Path:
    """Write the config (and the temp folders nginx insists on) under `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "nginx.conf"
    path.write_text(render_config(run_dir=run_dir, **options))
    return path


def nginx_argv(config: Path) -> list[str]:
    return [nginx_binary(), "-p", str(config.parent), "-c", str(config)]
