"""The ground floor: every wire fact and every policy of the Neural Heatmap contract, once.

The server, the bridge and the Python SDK import this package downward; it imports none of
them. See ``docs/contract.md`` for what lives here and why.
"""
