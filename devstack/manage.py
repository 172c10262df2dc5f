"""`python -m devstack.manage <command> [args]`: a manage.py command on make run's embedded data.

Reuses the embedded PostgreSQL if `make run` has it up (and then leaves it running), otherwise
starts and stops it; commands get a throwaway Redis unless REDIS_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys

from devstack.processes import ROOT
from devstack.run import DATA, local_env
from devstack.services import embedded_services


def main(argv: list[str]) -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    env = local_env(os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000")))
    # A scratch Redis of its own: make run's may be up, and its data is not ours to touch.
    with embedded_services(env, DATA, redis_dir="manage-redis", persist_redis=False):
        return subprocess.call([sys.executable, str(ROOT / "manage.py"), *argv], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
