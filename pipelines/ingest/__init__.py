"""Ingestion adapters: Binance klines, Kaggle datasets, the local candle store.

The rules (closed candles, merge, conflicts) live in :mod:`ml.ingest`; these modules
only talk to the network and the disk.
"""
