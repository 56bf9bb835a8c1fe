"""Stand-in for sentry_sdk: ADC calls sentry_sdk.init() with its own DSN at import
time and wraps every batch in start_transaction(); offline runs must send nothing."""

import contextlib


def init(*args, **kwargs):
    return None


@contextlib.contextmanager
def start_transaction(*args, **kwargs):
    yield None
