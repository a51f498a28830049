"""The command supervisord runs for `up`'s anvil: the kept chain, mining by itself, at every (re)start.

    python -m gateway.anvil_launch --chain-dir <state>/anvil --block-seconds 1 -- <anvil> <its arguments>

supervisord starts a program with the same command line every time, at `up`'s first start as after a crash, so
the choice of chain is made here, when the process starts, not when `up` writes the config. Of the two files in
the chain directory, anvil's own dump (`state.json`, rewritten in place every `CHAIN_DUMP_SECONDS`) and the copy
`up` keeps of it (`state.kept.json`, replaced atomically), the one that parses whole and holds the highest block is
loaded (`--load-state`), and anvil mines a block every `--block-seconds` from its start (`--block-time`), as on a
real chain. With neither (a fresh chain: `up` removes the files of a chain it does not keep before it starts),
anvil starts empty, mining a block per transaction, so that `up` deploys the contracts block by block at once;
`up` switches interval mining on over RPC afterwards and waits for anvil's first dump that holds the deployment.

Then this process becomes anvil (`exec`): supervisord's pid, stop signal and SIGKILL are anvil's own. What a
SIGKILL loses is the blocks mined since the last whole dump (at most `CHAIN_DUMP_SECONDS` of them, more only if
the kill hit the dump being written, then back to the kept copy): the watcher and settlement see a reorg
(docs/runbook.md, "The local chain").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

CHAIN_DUMP = "state.json"
"""anvil's own dump of the chain in the chain directory (rewritten in place)."""
CHAIN_KEPT = "state.kept.json"
"""The copy `up` keeps of a whole dump (`localrun.ChainKeeper`), replaced atomically."""


def dump_height(path: Path) -> int | None:
    """The best block number of an anvil state dump when the file is whole (JSON with its blocks), else None."""
    try:
        parsed = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(parsed, dict) or "blocks" not in parsed or "best_block_number" not in parsed:
        return None
    best = parsed["best_block_number"]
    try:
        return int(best, 16) if isinstance(best, str) and best.startswith("0x") else int(best)
    except (TypeError, ValueError):
        return None


def newest_whole_dump(chain_dir: Path) -> Path | None:
    """Of anvil's dump and the kept copy, the whole one with the highest block (the dump on a tie); None if none."""
    best: tuple[int, Path] | None = None
    for name in (CHAIN_DUMP, CHAIN_KEPT):
        path = chain_dir / name
        height = dump_height(path)
        if height is not None and (best is None or height > best[0]):
            best = (height, path)
    return None if best is None else best[1]


def anvil_argv(anvil: Sequence[str], state: Path | None, block_seconds: int) -> list[str]:
    """Anvil's command line: loading `state` and mining every `block_seconds`, or as given without a state."""
    if state is None:
        return list(anvil)
    return [*anvil, "--load-state", str(state), "--block-time", str(block_seconds)]


def main(argv: Sequence[str] | None = None) -> None:
    """Pick the chain and exec anvil (never returns unless the exec fails)."""
    given = list(sys.argv[1:] if argv is None else argv)
    ours, anvil = (given[: given.index("--")], given[given.index("--") + 1 :]) if "--" in given else (given, [])
    parser = argparse.ArgumentParser(prog="python -m gateway.anvil_launch", description=__doc__.splitlines()[0])
    parser.add_argument("--chain-dir", type=Path, required=True, help="where anvil dumps and `up` keeps the chain")
    parser.add_argument("--block-seconds", type=int, required=True, help="block interval of a loaded chain")
    args = parser.parse_args(ours)
    if not anvil:
        parser.error("give anvil's command line after --")
    if args.block_seconds < 1:
        parser.error("--block-seconds must be at least 1")
    state = newest_whole_dump(args.chain_dir)
    command = anvil_argv(anvil, state, args.block_seconds)
    # anvil runs --silent: this line in its log says which chain each start took.
    print(f"anvil_launch: {f'loading {state}' if state else 'a fresh chain (no whole dump)'}", flush=True)
    os.execv(command[0], command)  # noqa: S606 - anvil's own path, from `up`'s config


if __name__ == "__main__":
    main()
