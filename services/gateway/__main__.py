"""``python -m services.gateway``: the HTTP gateway (see ``services.gateway.app``).

``--state-dir`` (used by the local stack, which also uses it to recognise its process)
sets ``stack.state_dir``; everything else comes from the environment's settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.worker import configure_logging
from services.gateway.serve import run_gateway
from shared.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway")
    parser.add_argument("--state-dir", type=Path, default=None, help="The stack's state dir.")
    args = parser.parse_args()
    configure_logging()
    settings = Settings()
    if args.state_dir is not None:
        stack = settings.stack.model_copy(update={"state_dir": args.state_dir})
        settings = settings.model_copy(update={"stack": stack})
    return run_gateway(settings)


if __name__ == "__main__":
    raise SystemExit(main())
