"""``clearpath bench e2e``: the whole pipeline measured against its own baselines in one run.

Pure parts (statistics, the message mix, the result model) live in :mod:`shared.bench.stats`,
:mod:`shared.bench.mix` and :mod:`shared.bench.result`; the phases that drive Kafka and the
workers live in :mod:`shared.bench.phases`, :mod:`shared.bench.naive` and
:mod:`shared.bench.runner`.
"""
