"""``pyiqa-fast env``."""

from __future__ import annotations

import json


def run_env(as_json: bool = False) -> int:
    from pyiqa_fast.utils.env import collect_env, format_env

    env = collect_env()
    print(json.dumps(env, indent=2, default=str) if as_json else format_env(env))
    return 0
