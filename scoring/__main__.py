"""`python -m scoring`: run the scorer with FRAUDSTREAM_* settings; flags override them."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from foundation.settings import setting_problems
from scoring.serving.app import serve
from scoring.serving.settings import ScorerSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scoring", description="Run the fraudstream scorer.")
    parser.add_argument("--host", help="listen address [env: FRAUDSTREAM_HOST]")
    parser.add_argument("--port", type=int, help="listen port [env: FRAUDSTREAM_PORT]")
    parser.add_argument("--model-path", help="model artifact JSON [env: FRAUDSTREAM_MODEL_PATH]")
    parser.add_argument("--rules-path", help="rules TOML [env: FRAUDSTREAM_RULES_PATH]")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = ScorerSettings(**overrides)
    except ValidationError as exc:
        for problem in setting_problems(exc) or [str(exc)]:
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    serve(settings)


if __name__ == "__main__":
    main()
