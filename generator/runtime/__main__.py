"""``python -m aiar_runtime serve|train --config model-server.json``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import ServerConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiar_runtime", description="aiar model server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="REST, bus consumers and online training")
    serve.add_argument("--config", type=Path, required=True)
    # in a pod the server listens on every interface; the NetworkPolicy decides who reaches it
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104
    serve.add_argument("--port", type=int, default=None, help="default: rest.port of the config")
    serve.add_argument("--workers", type=int, default=4, help="threads running predict() (per process)")
    serve.add_argument(
        "--processes", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT); see workers.py"
    )
    serve.add_argument("--worker-of", type=int, default=None, help=argparse.SUPPRESS)  # set by the supervisor
    train = commands.add_parser("train", help="the training Job")
    train.add_argument("--config", type=Path, required=True)
    train.add_argument(
        "--rounds", type=int, default=None, help="stop after this many buffered trainings (default: run until stopped)"
    )
    train.add_argument(
        "--historic-only",
        action="store_true",
        help="train from the stored dataset and exit (the Kubernetes Job); the server consumes bus training",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # While the broker is away each retry logs one line of ours; pika's own would add a traceback each.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    from .config import ServerConfig  # after argument parsing: --help stays fast
    from .usercode import UserCodeError

    config = ServerConfig.model_validate_json(args.config.read_bytes())
    try:
        if args.command == "serve":
            return _serve(args, config)
        from . import server

        return server.train(config, args.rounds, args.historic_only)
    except UserCodeError as exc:  # the bundle's code breaks the contract: say how, in one line
        logging.getLogger("aiar").error("%s", exc)
        return 1


def _serve(args: argparse.Namespace, config: ServerConfig) -> int:
    # A supervisor of --processes N imports no more than it needs: its children import the server,
    # and each start counts in the cold start.
    from . import workers

    port = args.port if args.port is not None else (config.rest.port if config.rest else 8080)
    if args.worker_of is not None:  # one of the processes of --processes N
        workers.become_worker(args.worker_of)
        from . import server

        sockets = [workers.listening_socket(args.host, port)]
        return server.serve(config, args.host, port, args.workers, sockets, workers.SharedReadiness.from_environment())
    try:
        workers.check_config(config, args.processes)
    except workers.WorkersError as exc:
        logging.getLogger("aiar").error("%s", exc)
        return 1
    if args.processes > 1:
        return workers.supervise(args.config, config, args.host, port, args.processes, args.workers)
    from . import server

    return server.serve(config, args.host, port, args.workers)


if __name__ == "__main__":
    sys.exit(main())
