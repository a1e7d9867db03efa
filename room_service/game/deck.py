"""The bundled deck of hot-seat prompts, and drawing them without repeats."""

from __future__ import annotations

import functools
import json
import random
from importlib import resources


@functools.cache
def load_deck() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("prompts.json").read_text(encoding="utf-8")
    return tuple(json.loads(text))


def draw_prompt(used: list[str], rng: random.Random) -> tuple[str, list[str]]:
    """A prompt not in `used`, and `used` with it added. Once the deck is exhausted it starts over,
    keeping only the last prompt so it is not drawn twice in a row."""
    deck = load_deck()
    unused = [p for p in deck if p not in set(used)]
    if not unused:
        used = used[-1:]
        unused = [p for p in deck if p not in used]
    prompt = rng.choice(unused)
    return prompt, [*used, prompt]
