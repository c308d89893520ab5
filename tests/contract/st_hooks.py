"""Loaded by schemathesis (SCHEMATHESIS_HOOKS=st_hooks, from tests/contract/run): makes
hypothesis build each regular expression's strategy once instead of on every draw.

Why by hand: hypothesis (6.170, the newest) turns a character range into a strategy one code
point at a time, and schemathesis' negative mode asks for the strategy of a pattern again
for every value it mutates. Our `Email` and `Domain` patterns hold ranges of the whole Basic
Multilingual Plane (`\\u00C0-\\uFFFF`: 65,000 code points, six times in a pattern), so 80% of
the fuzzer's time went into rebuilding the same strategies: one operation taking an e-mail
address, 79 cases, took 25 s, and the eight such operations were two thirds of the run.
A strategy is an immutable description of how to draw values (hypothesis' own strategies are
built once and shared), so handing back the one built for the same pattern, flags and
alphabet draws the same way: with the same seed, that operation gave the same 79 cases'
count in 3.3 s. Nothing in the checks changes.

If a later hypothesis moves this function, the hook says so and the run goes on, slower.
"""

import sys

try:
    from hypothesis.strategies._internal import regex as _regex

    _build = _regex.base_regex_strategy
    _built = {}

    def base_regex_strategy(regex, *, parsed=None, alphabet):
        key = (regex.pattern, regex.flags, repr(alphabet))
        strategy = _built.get(key)
        if strategy is None:
            strategy = _built[key] = _build(regex, parsed=parsed, alphabet=alphabet)
        return strategy

    _regex.base_regex_strategy = base_regex_strategy
except (ImportError, AttributeError) as e:
    print(f"st_hooks: hypothesis' regex strategies are not cached ({e}); the run is slower", file=sys.stderr)
