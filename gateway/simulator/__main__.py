"""CLI: ``python -m gateway.simulator --port 8100 --ttft-ms 250 --tokens-per-s 40 --seed 0``."""

import argparse
import asyncio
import signal

from gateway.simulator.plan import SimulatorDefaults
from gateway.simulator.server import start_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulator",
        description="Simulated OpenAI / Anthropic API server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=int, default=250, help="delay before the first token")
    parser.add_argument(
        "--tokens-per-s", type=float, default=40.0, help="token rate; <= 0 means no delay"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the default replies")
    parser.add_argument(
        "--own-model",
        action="append",
        default=[],
        help="a model only script entries naming it apply to (repeatable), e.g. the title model",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    defaults = SimulatorDefaults(
        ttft_ms=args.ttft_ms,
        tokens_per_s=args.tokens_per_s,
        seed=args.seed,
        own_models=frozenset(args.own_model),
    )
    runner = await start_server(defaults, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = runner.addresses[0][1]
    # Parent processes wait for this exact line, so flush it right away.
    print(f"simulator listening on http://{args.host}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    asyncio.run(serve(parse_args()))


if __name__ == "__main__":
    main()
